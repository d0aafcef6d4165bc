//! What a whole run found: every scenario's figures, the ratios against their targets, each
//! process's memory, printed and written as `docs/benchmarks.md`.

use std::fmt::Write as _;

use crate::load::Report;
use crate::platform::Rss;
use crate::seed::Seeded;

/// A process's memory before and after load.
#[derive(Clone, Debug)]
pub struct Memory {
    /// The process.
    pub name: &'static str,
    /// Resident after start, before any load.
    pub idle: Rss,
    /// After every scenario on it (its peak is the loaded figure).
    pub loaded: Rss,
}

/// Every figure of a whole run.
#[derive(Debug, Default)]
pub struct Results {
    /// The command line that produced it.
    pub command: String,
    /// Concurrency and durations.
    pub settings: String,
    /// The datasets.
    pub seeds: Vec<Seeded>,
    /// Scenarios in the order they ran, named.
    pub scenarios: Vec<(&'static str, Report)>,
    /// The main platform's processes.
    pub memory: Vec<Memory>,
    /// The gateway against the limit at each client count of the sweep.
    pub sweep: Vec<Sweep>,
}

/// The gateway and the limit at one client count (every count's pair took turns in the same
/// rounds).
#[derive(Debug)]
pub struct Sweep {
    /// Concurrent clients.
    pub clients: usize,
    /// The catalog page through the gateway.
    pub gateway: Report,
    /// The catalog SQL straight into PostgreSQL.
    pub limit: Report,
}

impl Sweep {
    /// The gateway's throughput over the limit's.
    fn ratio(&self) -> f64 {
        self.gateway.throughput() / self.limit.throughput()
    }
}

/// A ratio the issue sets a target for.
struct Ratio {
    name: String,
    value: f64,
    target: &'static str,
    met: bool,
}

impl Ratio {
    /// A ratio whose target is a floor.
    fn at_least(name: String, value: f64, floor: f64, target: &'static str) -> Ratio {
        Ratio {
            name,
            value,
            target,
            met: value >= floor,
        }
    }
}

impl Results {
    fn get(&self, key: &str) -> Option<&Report> {
        self.scenarios
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r)
    }

    fn throughput_ratio(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.get(a)?.throughput() / self.get(b)?.throughput())
    }

    fn ratios(&self) -> Vec<Ratio> {
        let at_least = |name: &str, a, b, target, label| {
            self.throughput_ratio(a, b)
                .map(|value| Ratio::at_least(name.into(), value, target, label))
        };
        let mut out: Vec<Ratio> = at_least("gateway / limit", "gateway", "limit", 0.5, "≥ 0.5")
            .into_iter()
            .collect();
        // The sweep's client counts right after the default's.
        for s in &self.sweep {
            out.push(Ratio::at_least(
                format!("gateway / limit, {} clients each", s.clients),
                s.ratio(),
                0.5,
                "≥ 0.5",
            ));
        }
        if !self.sweep.is_empty() {
            let best = |pick: fn(&Sweep) -> &Report| {
                self.sweep
                    .iter()
                    .map(|s| pick(s).throughput())
                    .fold(0.0, f64::max)
            };
            out.push(Ratio::at_least(
                "gateway's best / limit's best (any client count)".into(),
                best(|s| &s.gateway) / best(|s| &s.limit),
                0.5,
                "≥ 0.5",
            ));
        }
        out.extend(
            [
                at_least("gateway / bare engine", "gateway", "bare", 0.95, "≥ 0.95"),
                at_least("rls / explicit", "rls", "explicit", 0.95, "≥ 0.95"),
                at_least(
                    "rls, set_config after BEGIN / explicit",
                    "rls-set-after-begin",
                    "explicit",
                    0.95,
                    "≥ 0.95 (former TenantTx)",
                ),
                at_least(
                    "10,000 tenants / 10 tenants",
                    "tenants-10000",
                    "tenants-10",
                    0.9,
                    "≥ 0.9",
                ),
            ]
            .into_iter()
            .flatten(),
        );
        if let Some(gateway) = self.get("gateway") {
            let value = gateway.percentile(99.0) / gateway.percentile(50.0);
            out.push(Ratio {
                name: "gateway p99 / p50".into(),
                value,
                target: "≤ 3",
                met: value <= 3.0,
            });
        }
        out
    }

    /// The ratios as lines for the terminal.
    pub fn ratio_lines(&self) -> Vec<String> {
        self.ratios()
            .iter()
            .map(|r| {
                format!(
                    "{:<30} {:>6.3}  target {} {}",
                    r.name,
                    r.value,
                    r.target,
                    if r.met { "met" } else { "NOT met" }
                )
            })
            .collect()
    }

    /// The markdown document.
    pub fn markdown(&self, machine: &Machine) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# Benchmarks\n\n\
             Written by `{}` on {}; do not edit by hand, run the command again.\n\n\
             Machine: {} cores ({}), {:.1} GiB memory, {}. \
             Everything below ran on this one machine: PostgreSQL, Redis, the services, the \
             gateways and the load generator share its cores.\n\n\
             Load: {}. Every request is checked: a non-2xx status, a GraphQL `errors` entry or \
             an incomplete page stops the run, so every figure counts complete answers only.\n",
            self.command,
            machine.date,
            machine.cores,
            machine.cpu,
            machine.memory_gib,
            machine.postgres,
            self.settings,
        );
        let _ = writeln!(
            md,
            "## Datasets\n\n| database | contents | seeding |\n|---|---|---:|"
        );
        for seed in &self.seeds {
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.1} s |",
                seed.database,
                seed.shape.describe(),
                seed.seconds
            );
        }
        let _ = writeln!(
            md,
            "\n## Scenarios\n\n\
             | scenario | what | ops/s | p50 ms | p90 ms | p99 ms | ops | errors |\n\
             |---|---|---:|---:|---:|---:|---:|---:|"
        );
        for (key, r) in &self.scenarios {
            let _ = writeln!(
                md,
                "| {key} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | 0 |",
                r.name,
                r.throughput(),
                r.percentile(50.0),
                r.percentile(90.0),
                r.percentile(99.0),
                r.latencies.len()
            );
        }
        let budget = machine.cores * 1000;
        let _ = writeln!(
            md,
            "\n## Where the CPU goes\n\nProcessor milliseconds per request by process over the \
             measured time (from `/proc/<pid>/stat`; `postgres` is every backend and background \
             process, `other` everything else on the machine). With {} cores, {budget} ms of CPU \
             a second is all there is, so throughput is at most about {budget} / the row's \
             sum.\n\n| scenario | CPU ms per request |\n|---|---|",
            machine.cores
        );
        for (key, r) in &self.scenarios {
            let _ = writeln!(
                md,
                "| {key} | {} (sum {:.2}) |",
                r.cpu_parts(),
                r.cpu_total()
            );
        }
        if !self.sweep.is_empty() {
            let _ = writeln!(
                md,
                "\n## The gateway and the limit by client count\n\n\
                 Both again at each client count, all of them taking turns in the same rounds (so \
                 the best of each can be compared); the limit's pools stay the subgraphs' size, so \
                 clients beyond it wait for a connection there as they do in the services.\n\n\
                 | clients | gateway ops/s | p50 ms | p99 ms | CPU ms per request | limit ops/s | \
                 p50 ms | p99 ms | CPU ms per request | gateway / limit |\n\
                 |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for s in &self.sweep {
                let (g, l) = (&s.gateway, &s.limit);
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | \
                     {:.3} |",
                    s.clients,
                    g.throughput(),
                    g.percentile(50.0),
                    g.percentile(99.0),
                    g.cpu_total(),
                    l.throughput(),
                    l.percentile(50.0),
                    l.percentile(99.0),
                    l.cpu_total(),
                    s.ratio()
                );
            }
        }
        let _ = writeln!(
            md,
            "\n## Ratios\n\n| ratio | value | target | |\n|---|---:|---|---|"
        );
        for r in self.ratios() {
            let _ = writeln!(
                md,
                "| {} | {:.3} | {} | {} |",
                r.name,
                r.value,
                r.target,
                if r.met { "met" } else { "not met" }
            );
        }
        let _ = writeln!(
            md,
            "\n## Memory\n\nResident set size in MiB, on the default dataset: idle after start, \
             and the peak after every scenario ran against it.\n\n\
             | process | idle | loaded (peak) |\n|---|---:|---:|"
        );
        for m in &self.memory {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.1} |",
                m.name, m.idle.current, m.loaded.peak
            );
        }
        md
    }
}

/// The machine a run measured.
#[derive(Debug)]
pub struct Machine {
    /// The run's UTC date and time.
    pub date: String,
    /// Logical CPUs.
    pub cores: usize,
    /// The CPU model.
    pub cpu: String,
    /// Total memory.
    pub memory_gib: f64,
    /// PostgreSQL's version string.
    pub postgres: String,
}

impl Machine {
    /// Reads the machine's description (`/proc`, `date`, the database's `version()`).
    pub fn read(postgres: String) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        Machine {
            date,
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            memory_gib,
            postgres,
        }
    }
}
