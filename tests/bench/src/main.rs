//! `bench`: seeds a realistic multi-tenant dataset with COPY and measures the catalog path at
//! fixed concurrency, printing throughput and latency percentiles (see the README's
//! *Benchmarks*). Speed is measured here, never in timed tests.

mod load;
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
}

const USAGE: &str = "usage: bench <seed|limit|rls|sql> [--scale F] [--tenants N] [--concurrency N] [--duration SECS] [--warmup SECS]

  seed    creates the database aula_bench (roles, migrations) and fills it with COPY
  limit   the catalog SQL as the subgraphs issue it, straight into PostgreSQL
  rls     the catalog SQL in a tenant transaction under RLS vs explicit WHERE tenant_id on copies
  sql     seed, limit and rls";

fn parse(args: &[String]) -> Result<(String, Options), String> {
    let mut options = Options {
        scale: 1.0,
        tenants: None,
        concurrency: 16,
        duration: Duration::from_secs(20),
        warmup: Duration::from_secs(5),
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
            s if !s.starts_with('-') && scenario.is_none() => scenario = Some(s.to_owned()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(0.001..=100.0).contains(&options.scale) || options.concurrency == 0 {
        return Err("--scale must be in 0.001..100 and --concurrency at least 1".into());
    }
    Ok((scenario.ok_or("which scenario?")?, options))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (scenario, options) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("bench: {e}\n\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let outcome = match scenario.as_str() {
        "seed" => seed::run(&options).await.map(|_| ()),
        "limit" => sql::limit(&options).await.map(|r| r.print()),
        "rls" => sql::rls(&options).await.map(|(a, b)| {
            a.print();
            b.print();
            eprintln!(
                "rls/explicit throughput ratio: {:.3}",
                a.throughput() / b.throughput()
            );
        }),
        "sql" => {
            async {
                seed::run(&options).await?;
                sql::limit(&options).await?.print();
                let (a, b) = sql::rls(&options).await?;
                a.print();
                b.print();
                eprintln!(
                    "rls/explicit throughput ratio: {:.3}",
                    a.throughput() / b.throughput()
                );
                Ok(())
            }
            .await
        }
        other => Err(format!("unknown scenario {other}\n\n{USAGE}")),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
