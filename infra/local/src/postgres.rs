//! A PostgreSQL cluster in a data folder, run with `pg_ctl` as the `postgres` user when root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::install::{Install, ensure_installed};
use crate::util::{free_port, is_root, run, user_ids, wait_for_port};
use crate::{Error, Result};

/// A local PostgreSQL cluster: TCP on 127.0.0.1 only, no Unix socket, trust authentication
/// (loopback only; for development and tests, never for production).
#[derive(Debug, Clone)]
pub struct PostgresCluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    port: u16,
}

impl PostgresCluster {
    /// Finds the newest PostgreSQL server binaries, installing `postgresql` when allowed.
    pub fn binaries(policy: Install) -> Result<PathBuf> {
        ensure_installed(
            "PostgreSQL server (initdb, pg_ctl)",
            "postgresql",
            policy,
            || find_bin_dir().is_some(),
        )?;
        find_bin_dir().ok_or_else(|| Error::Missing {
            program: "initdb".into(),
            hint: "install the postgresql package".into(),
        })
    }

    /// Opens the cluster in `data_dir`, creating it with `initdb` if it does not exist yet.
    /// The port is the running server's if it is already up, otherwise a free one.
    pub fn open(data_dir: &Path, policy: Install) -> Result<Self> {
        let bin_dir = Self::binaries(policy)?;
        std::fs::create_dir_all(data_dir)?;
        let data_dir = data_dir.canonicalize()?;
        if is_root() {
            let (uid, gid) = user_ids("postgres").ok_or_else(|| Error::Missing {
                program: "the postgres system user".into(),
                hint: "reinstall the postgresql package".into(),
            })?;
            std::os::unix::fs::chown(&data_dir, Some(uid), Some(gid))?;
            std::fs::set_permissions(
                &data_dir,
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            )?;
            let reachable = Command::new("runuser")
                .args(["-u", "postgres", "--", "test", "-w"])
                .arg(&data_dir)
                .status()
                .is_ok_and(|s| s.success());
            if !reachable {
                return Err(Error::Unreachable(data_dir));
            }
        }
        let mut cluster = Self {
            data_dir,
            bin_dir,
            port: 0,
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.run_tool(
                "initdb",
                &[
                    "-D",
                    &cluster.data(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
            )?;
        }
        cluster.port = match cluster.running_port() {
            Some(port) => port,
            None => free_port()?,
        };
        Ok(cluster)
    }

    /// Starts the server unless it is already running, and waits until it accepts connections.
    /// `settings` are extra `-c name=value` options (for example `fsync=off` for tests).
    pub fn start(&mut self, settings: &[&str]) -> Result<()> {
        if let Some(port) = self.running_port() {
            self.port = port;
            return Ok(());
        }
        let mut opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories=''",
            self.port
        );
        for s in settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let log = self.data_dir.join("server.log");
        self.run_tool(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        if wait_for_port(self.port, Duration::from_secs(30)) {
            Ok(())
        } else {
            Err(Error::Timeout(format!("PostgreSQL on port {}", self.port)))
        }
    }

    /// Stops the server (fast shutdown) if it is running.
    pub fn stop(&self) -> Result<()> {
        if self.running_port().is_none() {
            return Ok(());
        }
        self.run_tool(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "60", "stop"],
        )
        .map(|_| ())
    }

    /// The port of the running server, read from `postmaster.pid`, if it runs.
    pub fn running_port(&self) -> Option<u16> {
        let pid_file = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let mut lines = pid_file.lines();
        let pid: u32 = lines.next()?.trim().parse().ok()?;
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return None;
        }
        lines.nth(2)?.trim().parse().ok()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A superuser URL for administration (creating roles and databases).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> String {
        self.data_dir.to_string_lossy().into_owned()
    }

    fn run_tool(&self, tool: &str, args: &[&str]) -> Result<String> {
        let program = self.bin_dir.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args).current_dir("/");
        run(&mut cmd)
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}
