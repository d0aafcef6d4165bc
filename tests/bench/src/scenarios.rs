//! Which scenarios a command runs, in what order, over which dataset and platform; `all` also
//! collects every figure into `docs/benchmarks.md`.

use std::path::Path;
use std::sync::Arc;

use crate::http::{self, Target};
use crate::load::{self, Report};
use crate::platform::{self, Platform, Rss};
use crate::report::{Machine, Memory, Results, Sweep};
use crate::seed::{self, Seeded, Shape};
use crate::{Options, sql};

/// Client counts at which `all` also compares the gateway with the limit, all of them taking
/// turns in the same rounds: the gateway path runs through five processes, and how much work
/// each wake-up of a process finds (so its CPU per request) depends on how many requests are in
/// flight.
const SWEEP: [usize; 4] = [16, 32, 64, 128];

/// The tenant counts the `tenants` scenario compares.
const FEW: u32 = 10;
const MANY: u32 = 10_000;

/// Runs `scenario` (see the usage text).
#[allow(
    clippy::print_stdout,
    reason = "printing figures is this command's job"
)]
pub async fn run(scenario: &str, options: &Options, args: &[String]) -> Result<(), String> {
    match scenario {
        "all" if !options.without.is_empty() => Err(
            "--without changes the gateway; docs/benchmarks.md is written with every plugin on"
                .into(),
        ),
        "all" => {
            let results = all(options, args).await?;
            for line in results.ratio_lines() {
                println!("{line}");
            }
            let admin = sql::admin(&seed::database(options)).await?;
            let postgres: String = sea_orm::sqlx::query_scalar("SHOW server_version")
                .fetch_one(&admin)
                .await
                .map_err(|e| e.to_string())?;
            let machine = Machine::read(format!("PostgreSQL {postgres}"));
            let path = platform::repository().join("docs/benchmarks.md");
            std::fs::write(&path, results.markdown(&machine))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
            Ok(())
        }
        "seed" => seed::run(options).await.map(|_| ()),
        "limit" => {
            sql::Limit::open(&seed::database(options), options.concurrency)
                .await?
                .run(options)
                .await?
                .print();
            Ok(())
        }
        "rls" => {
            let rls = sql::rls(options).await?;
            println!(
                "rls/explicit throughput ratio: {:.3} (set_config after BEGIN: {:.3})",
                rls.as_tenant_tx.throughput() / rls.explicit.throughput(),
                rls.set_after_begin.throughput() / rls.explicit.throughput()
            );
            Ok(())
        }
        "subgraph" | "gateway" | "bare" | "plugins" => {
            // `gateway` takes turns with the limit it is measured against.
            let targets: &[(&str, Compared)] = match scenario {
                "subgraph" => &[("subgraph", Compared::Http(Target::Subgraph))],
                "gateway" => &[
                    ("gateway", Compared::Http(Target::Gateway)),
                    ("limit", Compared::Limit),
                ],
                "bare" => &[("bare", Compared::Http(Target::Bare))],
                _ => &[
                    ("gateway", Compared::Http(Target::Gateway)),
                    ("bare", Compared::Http(Target::Bare)),
                ],
            };
            let bin = platform::binaries()?;
            let shape = existing(options).await?;
            // on_platform prints each report as it finishes.
            let Measured { reports, .. } = on_platform(
                &bin,
                &seed::database(options),
                (shape, http::PAGE),
                options,
                targets,
                &[],
            )
            .await?;
            // gateway/bare, or gateway/limit.
            if let [(top, over), (bottom, under)] = reports.as_slice() {
                println!(
                    "{top}/{bottom} throughput ratio: {:.3}",
                    over.throughput() / under.throughput()
                );
            }
            Ok(())
        }
        "tenants" => {
            let bin = platform::binaries()?;
            tenants(&bin, options).await.map(|_| ())
        }
        other => Err(format!("unknown scenario {other}")),
    }
}

/// The shape of the dataset `bench seed` made for `options`, checked against the database.
async fn existing(options: &Options) -> Result<Shape, String> {
    let shape = Shape::of(options);
    let admin = sql::admin(&seed::database(options)).await?;
    let tenants = sql::seeded(&admin).await?;
    if tenants != shape.tenants {
        return Err(format!(
            "{} holds {tenants} tenants, not the {} these options describe: run `bench seed` with the same options",
            seed::database(options),
            shape.tenants
        ));
    }
    Ok(shape)
}

/// A started platform with its students signed in and each process's idle memory.
struct Running {
    platform: Platform,
    students: Arc<Vec<http::Student>>,
    idle: Vec<(&'static str, Rss)>,
}

/// Starts the platform over `database` (logs prefixed with `label`) and signs students of
/// `shape` in; stops it again when that fails.
async fn start(
    bin: &Path,
    database: &str,
    shape: Shape,
    options: &Options,
    label: &str,
) -> Result<Running, String> {
    let platform = Platform::start(bin, database, &options.without, label).await?;
    let ready = async {
        let idle = platform
            .processes()
            .into_iter()
            .map(|p| p.rss().map(|rss| (p.name, rss)))
            .collect::<Result<Vec<_>, _>>()?;
        let students = http::sign_in(&platform.identity.url, shape).await?;
        eprintln!("bench: {} students signed in", students.len());
        Ok::<_, String>((Arc::new(students), idle))
    }
    .await;
    match ready {
        Ok((students, idle)) => Ok(Running {
            platform,
            students,
            idle,
        }),
        Err(e) => {
            platform.stop().await;
            Err(e)
        }
    }
}

/// What a target is called in reports.
fn target_name(target: Target) -> &'static str {
    match target {
        Target::Subgraph => "learning subgraph directly",
        Target::Gateway => "gateway, Aula's plugins on",
        Target::Bare => "bare engine, plugins off",
    }
}

/// A scenario measured beside others on one running platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compared {
    /// The catalog SQL straight into PostgreSQL (the platform idles meanwhile).
    Limit,
    /// The catalog page over HTTP.
    Http(Target),
}

/// A [`Compared`] scenario with its clients built (pools and HTTP client).
enum Prepared {
    Limit(sql::Limit),
    Http(http::Catalog),
}

impl Prepared {
    async fn run(&self, round: &Options) -> Result<Report, String> {
        match self {
            Prepared::Limit(limit) => limit.run(round).await,
            Prepared::Http(catalog) => catalog.run(round).await,
        }
    }
}

/// What [`on_platform`] measured.
struct Measured {
    /// Each target's report, keyed as the target was.
    reports: Vec<(&'static str, Report)>,
    /// The gateway and the limit at each client count of the sweep.
    sweep: Vec<Sweep>,
    /// Each process's memory, idle and after the load.
    memory: Vec<Memory>,
}

/// Starts the platform over `database`, signs students in, runs `targets` in alternating rounds,
/// then the gateway against the limit at each client count of `sweep`, and stops it.
async fn on_platform(
    bin: &Path,
    database: &str,
    page: (Shape, u64),
    options: &Options,
    targets: &[(&'static str, Compared)],
    sweep: &[usize],
) -> Result<Measured, String> {
    let running = start(bin, database, page.0, options, "").await?;
    let outcome = async {
        let mut prepared = Vec::new();
        for &(_, compared) in targets {
            prepared.push(match compared {
                Compared::Limit => {
                    Prepared::Limit(sql::Limit::open(database, options.concurrency).await?)
                }
                Compared::Http(target) => Prepared::Http(http::Catalog::new(
                    target_name(target),
                    target,
                    &running.platform,
                    running.students.clone(),
                    page,
                    options,
                )?),
            });
        }
        let merged = load::alternate(targets.len(), options, |t, round| {
            let prepared = &prepared[t];
            async move { prepared.run(&round).await }
        })
        .await?;
        // The limit's pools are closed before the sweep opens its own.
        drop(prepared);
        let mut reports = Vec::new();
        for (&(key, _), report) in targets.iter().zip(merged) {
            report.print();
            reports.push((key, report));
        }
        // Every client count's gateway and limit take turns in the same rounds, so a drift in
        // the machine's speed weighs on all of them alike and their best can be compared. One
        // pair of pools serves every count, at most the subgraphs' size as each count's own
        // would be (several pairs open at once would pass PostgreSQL's connection limit).
        let mut swept = Vec::new();
        if let Some(&most) = sweep.iter().max() {
            let limit = sql::Limit::open(database, most).await?;
            let mut compared = Vec::new();
            for &clients in sweep {
                let at = Options {
                    concurrency: clients,
                    ..options.clone()
                };
                compared.push((
                    clients,
                    Prepared::Http(http::Catalog::new(
                        &format!("gateway, {clients} clients"),
                        Target::Gateway,
                        &running.platform,
                        running.students.clone(),
                        page,
                        &at,
                    )?),
                ));
                compared.push((clients, Prepared::Limit(limit.clone())));
            }
            let merged = load::alternate(compared.len(), options, |t, round| {
                let (concurrency, prepared) = &compared[t];
                let round = Options {
                    concurrency: *concurrency,
                    ..round
                };
                async move { prepared.run(&round).await }
            })
            .await?;
            let mut merged = merged.into_iter();
            for &clients in sweep {
                let (Some(gateway), Some(limit)) = (merged.next(), merged.next()) else {
                    return Err("a sweep scenario was not run".into());
                };
                gateway.print();
                limit.print();
                swept.push(Sweep {
                    clients,
                    gateway,
                    limit,
                });
            }
        }
        let mut memory = Vec::new();
        for (process, &(name, idle)) in running.platform.processes().into_iter().zip(&running.idle)
        {
            memory.push(Memory {
                name,
                idle,
                loaded: process.rss()?,
            });
        }
        Ok(Measured {
            reports,
            sweep: swept,
            memory,
        })
    }
    .await;
    running.platform.stop().await;
    outcome
}

/// The gateway scenario on [`FEW`] and on [`MANY`] tenants holding the same total dataset; each
/// dataset is seeded fresh and dropped afterwards. Both platforms run side by side and take
/// turns in alternating rounds, so a drift in the machine's speed weighs on both alike. Both
/// ask for the same page size, one the smaller academies can fill, so each request does the
/// same work.
async fn tenants(
    bin: &Path,
    options: &Options,
) -> Result<(Vec<Seeded>, Vec<(&'static str, Report)>), String> {
    let smallest = Shape::of(&Options {
        tenants: Some(MANY),
        ..options.clone()
    });
    let first = http::page_size(smallest, http::PAGE);
    let sets = [
        (
            FEW,
            "tenants-10",
            format!("gateway, 10 tenants, pages of {first}"),
        ),
        (
            MANY,
            "tenants-10000",
            format!("gateway, 10,000 tenants, pages of {first}"),
        ),
    ];
    let mut seeds = Vec::new();
    for (count, _, _) in &sets {
        seeds.push(
            seed::run(&Options {
                tenants: Some(*count),
                ..options.clone()
            })
            .await?,
        );
    }
    let mut running = Vec::new();
    let mut started = Ok(());
    for (seeded, (_, key, _)) in seeds.iter().zip(&sets) {
        match start(
            bin,
            &seeded.database,
            seeded.shape,
            options,
            &format!("{key}-"),
        )
        .await
        {
            Ok(platform) => running.push(platform),
            Err(e) => {
                started = Err(e);
                break;
            }
        }
    }
    let catalogs = started.and_then(|()| {
        sets.iter()
            .zip(&running)
            .zip(&seeds)
            .map(|(((_, _, name), running), seeded)| {
                http::Catalog::new(
                    name,
                    Target::Gateway,
                    &running.platform,
                    running.students.clone(),
                    (seeded.shape, first),
                    options,
                )
            })
            .collect::<Result<Vec<_>, String>>()
    });
    let outcome = match catalogs {
        Ok(catalogs) => {
            load::alternate(sets.len(), options, |s, round| {
                let catalog = &catalogs[s];
                async move { catalog.run(&round).await }
            })
            .await
        }
        Err(e) => Err(e),
    };
    for platform in running {
        platform.platform.stop().await;
    }
    let reports = outcome?;
    for seeded in &seeds {
        seed::drop_database(&seeded.database).await?;
    }
    let mut keyed = Vec::new();
    for ((_, key, _), report) in sets.iter().zip(reports) {
        report.print();
        keyed.push((*key, report));
    }
    Ok((seeds, keyed))
}

/// Everything, on fresh datasets.
async fn all(options: &Options, args: &[String]) -> Result<Results, String> {
    let bin = platform::binaries()?;
    let mut results = Results {
        command: if args.is_empty() {
            "cargo run -p bench --release".to_owned()
        } else {
            format!("cargo run -p bench --release -- {}", args.join(" "))
        },
        settings: format!(
            "{} concurrent clients, {} s warm-up then {} s measured per scenario; scenarios \
             compared with each other (the rls variants; limit, subgraph, gateway and bare; 10 \
             and 10,000 tenants, whose platforms run side by side) take turns in {} rounds of \
             equal length, keeping their database pools; then the gateway and the limit at \
             each of {} clients all take turns in the same rounds (the limit's pools are the \
             subgraphs': at most {} connections per role). Worker threads per service and \
             gateway: {} (`TOKIO_WORKER_THREADS`, `ROUTER_HTTP_WORKERS`)",
            options.concurrency,
            options.warmup.as_secs(),
            options.duration.as_secs(),
            load::ROUNDS,
            SWEEP.map(|c| c.to_string()).join(", "),
            platform::subgraph_pool(),
            platform::WORKERS
        ),
        ..Results::default()
    };
    let seeded = seed::run(options).await?;
    let rls = sql::rls(options).await?;
    results.scenarios.push(("rls", rls.as_tenant_tx));
    results
        .scenarios
        .push(("rls-set-after-begin", rls.set_after_begin));
    results.scenarios.push(("explicit", rls.explicit));
    let Measured {
        reports,
        sweep,
        memory,
    } = on_platform(
        &bin,
        &seeded.database,
        (seeded.shape, http::PAGE),
        options,
        &[
            ("limit", Compared::Limit),
            ("subgraph", Compared::Http(Target::Subgraph)),
            ("gateway", Compared::Http(Target::Gateway)),
            ("bare", Compared::Http(Target::Bare)),
        ],
        &SWEEP,
    )
    .await?;
    results.sweep = sweep;
    // The limit first, as the yardstick the rest are read against.
    let mut reports = reports.into_iter();
    results.scenarios.splice(0..0, reports.next());
    results.scenarios.extend(reports);
    results.memory = memory;
    results.seeds.push(seeded);
    let (seeds, reports) = tenants(&bin, options).await?;
    results.seeds.extend(seeds);
    results.scenarios.extend(reports);
    Ok(results)
}
