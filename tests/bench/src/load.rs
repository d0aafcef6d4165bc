//! Fixed-concurrency load: `concurrency` clients each run the operation back to back for a
//! warm-up, then for the measured duration; latencies are kept whole (no sampling) and any
//! error fails the run, so every printed figure comes from successful requests only. Scenarios
//! that are compared with each other run in alternating rounds ([`rounds`], [`merge`]), so a
//! drift in the machine's speed during the run weighs on each of them alike.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Options;
use crate::cpu;

/// Rounds that compared scenarios alternate in. The speed of this kind of machine drifts by as
/// much as half within a minute (a shared host), so short rounds: a drift weighs on every
/// compared scenario alike only when they take turns well within it.
pub const ROUNDS: u32 = 10;

/// Warm-up before each round after the first (each scenario keeps its database pools between its
/// rounds, an HTTP connection that idled 4 s is made again, and the previous round's requests
/// have all finished).
const ROUND_WARMUP: Duration = Duration::from_millis(250);

/// The options of each of [`ROUNDS`] rounds: the measured time split evenly, the whole warm-up
/// before the first.
fn rounds(options: &Options) -> Vec<Options> {
    (0..ROUNDS)
        .map(|round| Options {
            duration: options.duration / ROUNDS,
            warmup: if round == 0 {
                options.warmup
            } else {
                ROUND_WARMUP.min(options.warmup)
            },
            ..options.clone()
        })
        .collect()
}

/// Runs `count` compared scenarios in alternating rounds, forwards in even rounds and
/// backwards in odd ones (so none always follows another), `run(i, round)` measuring scenario
/// `i` for one round; returns each scenario's rounds merged, in scenario order.
pub async fn alternate<F, Fut>(
    count: usize,
    options: &Options,
    mut run: F,
) -> Result<Vec<Report>, String>
where
    F: FnMut(usize, Options) -> Fut,
    Fut: Future<Output = Result<Report, String>>,
{
    let mut done: Vec<Vec<Report>> = vec![Vec::new(); count];
    for (r, round) in rounds(options).into_iter().enumerate() {
        let order: Vec<usize> = if r % 2 == 0 {
            (0..count).collect()
        } else {
            (0..count).rev().collect()
        };
        for i in order {
            let report = run(i, round.clone()).await?;
            eprintln!(
                "bench: round {} of {ROUNDS}: {} {:.1} ops/s",
                r + 1,
                report.name,
                report.throughput()
            );
            done[i].push(report);
        }
    }
    done.into_iter().map(merge).collect()
}

/// One report of a scenario's rounds: every latency, the summed time, CPU per op weighted by
/// each round's operations.
pub fn merge(rounds: Vec<Report>) -> Result<Report, String> {
    let first = rounds.first().ok_or("no round was run")?;
    let (name, concurrency) = (first.name.clone(), first.concurrency);
    let ops: usize = rounds.iter().map(|r| r.latencies.len()).sum();
    let mut cpu: Vec<(String, f64)> = Vec::new();
    for round in &rounds {
        let weight = round.latencies.len() as f64 / ops.max(1) as f64;
        for (group, ms) in &round.cpu {
            match cpu.iter_mut().find(|(g, _)| g == group) {
                Some((_, total)) => *total += ms * weight,
                None => cpu.push((group.clone(), ms * weight)),
            }
        }
    }
    let elapsed = rounds.iter().map(|r| r.elapsed).sum();
    let mut latencies: Vec<u32> = rounds.into_iter().flat_map(|r| r.latencies).collect();
    latencies.sort_unstable();
    Ok(Report {
        name,
        concurrency,
        elapsed,
        latencies,
        cpu,
    })
}

/// A scenario's measured figures.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario's name.
    pub name: String,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Measured time.
    pub elapsed: Duration,
    /// Each successful operation's latency in microseconds, sorted.
    pub latencies: Vec<u32>,
    /// CPU milliseconds per operation by process group over the measured time.
    pub cpu: Vec<(String, f64)>,
}

impl Report {
    /// Operations per second.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile latency in milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        f64::from(self.latencies[rank.clamp(1, self.latencies.len()) - 1]) / 1000.0
    }

    /// One line of figures.
    #[allow(
        clippy::print_stdout,
        reason = "printing figures is this command's job"
    )]
    pub fn print(&self) {
        println!(
            "{:<28} c={:<3} {:>9.1} ops/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  ({} ops, 0 errors)\n{:<28} CPU ms per op: {}",
            self.name,
            self.concurrency,
            self.throughput(),
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.latencies.len(),
            "",
            self.cpu_parts(),
        );
    }

    /// The CPU milliseconds per operation of every process group together.
    pub fn cpu_total(&self) -> f64 {
        self.cpu.iter().map(|(_, ms)| ms).sum()
    }

    /// The CPU milliseconds per operation of each process group that spent any, as
    /// `group ms, ...`.
    pub fn cpu_parts(&self) -> String {
        let parts: Vec<String> = self
            .cpu
            .iter()
            .filter(|(_, ms)| *ms >= 0.005)
            .map(|(group, ms)| format!("{group} {ms:.2}"))
            .collect();
        parts.join(", ")
    }
}

/// Runs `op` from `concurrency` clients: `warmup` unmeasured, then `duration` measured, while
/// the CPU time of every process (`ours` named) is read at both ends of the measured time. The
/// first error stops the run and is returned.
pub async fn run<F, Fut>(
    name: &str,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    ours: Vec<(&'static str, u32)>,
    op: F,
) -> Result<Report, String>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = cpu::snapshot(&ours);
        tokio::time::sleep_until(end.into()).await;
        (before, cpu::snapshot(&ours))
    });
    let mut clients: Vec<tokio::task::JoinHandle<Result<Vec<u32>, String>>> =
        Vec::with_capacity(concurrency);
    for client in 0..concurrency {
        let op = op.clone();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = client;
            loop {
                let began = Instant::now();
                if began >= end {
                    return Ok(latencies);
                }
                op(i).await?;
                if began >= measure_from {
                    let micros = began.elapsed().as_micros().min(u128::from(u32::MAX));
                    latencies.push(micros as u32);
                }
                i += concurrency;
            }
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        let mine: Vec<u32> = client
            .await
            .map_err(|e| format!("a client panicked: {e}"))??;
        latencies.extend(mine);
    }
    latencies.sort_unstable();
    let (before, after) = sampler
        .await
        .map_err(|e| format!("the CPU sampler failed: {e}"))?;
    Ok(Report {
        name: name.to_owned(),
        concurrency,
        elapsed: duration,
        cpu: cpu::per_op(&before, &after, latencies.len()),
        latencies,
    })
}
