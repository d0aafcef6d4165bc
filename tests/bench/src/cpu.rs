//! Where the CPU goes: processor time per process from `/proc/<pid>/stat`, grouped into the
//! platform's processes, PostgreSQL's backends, Redis and the bench itself (the load generator),
//! so a scenario can say how many CPU milliseconds each part spent per request.

use std::collections::BTreeMap;

/// Processor seconds by group at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot(BTreeMap<String, f64>);

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`, 100 on Linux here).
fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Reads every process's user + system time, naming `ours` (pid → name) and grouping the rest
/// by command: `postgres`, `redis`, or `other`.
pub fn snapshot(ours: &[(&'static str, u32)]) -> Snapshot {
    let me = std::process::id();
    let mut groups = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Snapshot(groups);
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the command may hold spaces, so split after its `)`.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the command: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        let ticks = utime.parse::<f64>().unwrap_or(0.0) + stime.parse::<f64>().unwrap_or(0.0);
        let group = if pid == me {
            "bench (load generator)"
        } else if let Some((name, _)) = ours.iter().find(|(_, p)| *p == pid) {
            name
        } else if comm == "postgres" {
            "postgres"
        } else if comm.starts_with("redis-server") {
            "redis"
        } else {
            "other"
        };
        *groups.entry(group.to_owned()).or_insert(0.0) += ticks / ticks_per_second();
    }
    Snapshot(groups)
}

/// CPU milliseconds per operation by group between two snapshots (groups that spent nothing
/// are left out; processes that ended in between are not counted).
pub fn per_op(before: &Snapshot, after: &Snapshot, ops: usize) -> Vec<(String, f64)> {
    let ops = ops.max(1) as f64;
    after
        .0
        .iter()
        .filter_map(|(group, end)| {
            let spent = end - before.0.get(group).copied().unwrap_or(0.0);
            (spent > 0.0).then(|| (group.clone(), spent * 1000.0 / ops))
        })
        .collect()
}
