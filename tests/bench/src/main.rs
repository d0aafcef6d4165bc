//! `bench`: seeds a realistic multi-tenant dataset with COPY and measures the catalog path at
//! fixed concurrency, printing throughput and latency percentiles (see the README's
//! *Benchmarks*). Speed is measured here, never in timed tests.

mod cpu;
mod http;
mod load;
mod platform;
mod report;
mod scenarios;
mod seed;
mod sql;

use std::time::Duration;

/// What a run was asked for.
#[derive(Clone, Debug)]
pub struct Options {
    /// Multiplies the default dataset (1,000 tenants × 100 courses × 10 lessons, 200,000
    /// students, 1,000,000 enrollments).
    pub scale: f64,
    /// Tenants to spread the dataset over (default: 1,000 × scale).
    pub tenants: Option<u32>,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Measured seconds per scenario.
    pub duration: Duration,
    /// Unmeasured seconds before each scenario.
    pub warmup: Duration,
    /// Aula plugins the gateway leaves off (to measure what each costs).
    pub without: Vec<String>,
}

const USAGE: &str = "usage: bench [all|seed|limit|rls|subgraph|gateway|bare|plugins|tenants] [--scale F] [--tenants N] [--concurrency N] [--duration SECS] [--warmup SECS] [--without PLUGIN,..]

  all       (the default) every scenario below on freshly seeded datasets; prints the ratios and
            writes docs/benchmarks.md
  seed      creates the database aula_bench (aula_bench_t<N> with --tenants) and fills it with COPY
  limit     the catalog SQL as the subgraphs issue it, straight into PostgreSQL
  rls       the catalog SQL in a tenant transaction under RLS vs explicit WHERE tenant_id on copies
  subgraph  the catalog page from the learning subgraph directly
  gateway   the catalog page through the gateway with every Aula plugin, as random students,
            taking turns with limit, and their throughput ratio
  bare      the same through the router with Aula's plugins off
  plugins   gateway and bare alternating, and their throughput ratio
  tenants   the gateway scenario on 10 tenants and on 10,000 tenants of the same total size

  --without leaves the named Aula plugins (aula_budgets, aula_auth, ...) off the gateway, so
  `bench plugins --without aula_budgets` shows what the budgets cost.

  The scenarios after seed use the dataset seed made with the same --scale and --tenants; those
  that need the platform build and start it (release binaries; logs in the harness state folder).";

fn parse(args: &[String]) -> Result<(String, Options), String> {
    let mut options = Options {
        scale: 1.0,
        tenants: None,
        concurrency: 16,
        duration: Duration::from_secs(20),
        warmup: Duration::from_secs(5),
        without: Vec::new(),
    };
    let mut scenario = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--scale" => {
                options.scale = value("--scale")?
                    .parse()
                    .map_err(|_| "--scale is a number such as 0.1, 1 or 10")?;
            }
            "--tenants" => {
                options.tenants = Some(
                    value("--tenants")?
                        .parse()
                        .map_err(|_| "--tenants is a count")?,
                );
            }
            "--concurrency" => {
                options.concurrency = value("--concurrency")?
                    .parse()
                    .map_err(|_| "--concurrency is a count")?;
            }
            "--duration" => {
                options.duration = Duration::from_secs(
                    value("--duration")?
                        .parse()
                        .map_err(|_| "--duration is seconds")?,
                );
            }
            "--warmup" => {
                options.warmup = Duration::from_secs(
                    value("--warmup")?
                        .parse()
                        .map_err(|_| "--warmup is seconds")?,
                );
            }
            "--without" => {
                options.without.extend(
                    value("--without")?
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                );
            }
            s if !s.starts_with('-') && scenario.is_none() => scenario = Some(s.to_owned()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(0.001..=100.0).contains(&options.scale) || options.concurrency == 0 {
        return Err("--scale must be in 0.001..100 and --concurrency at least 1".into());
    }
    Ok((scenario.unwrap_or_else(|| "all".to_owned()), options))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    kit::server::install_crypto();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (scenario, options) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("bench: {e}\n\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    // Ctrl-C or SIGTERM drops the run, and with it every child process (killed on drop), so no
    // service outlives the bench holding database connections.
    let result = tokio::select! {
        result = scenarios::run(&scenario, &options, &args) => result,
        () = kit::server::shutdown_signal() => Err("interrupted; the platform was stopped".into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
