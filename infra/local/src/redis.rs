//! A Redis server on loopback that keeps nothing on disk.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::install::{Install, ensure_installed};
use crate::util::{free_port, run, wait_for_port};
use crate::{Error, Result};

/// A Redis server started by this process: as a child (stopped on [`RedisServer::stop`] or
/// drop) or daemonized with a pid file (shared between processes, stopped explicitly).
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

fn binary() -> Option<PathBuf> {
    ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl RedisServer {
    /// Starts `redis-server` as a child process on a free loopback port.
    pub fn start(policy: Install) -> Result<Self> {
        let bin = Self::binary(policy)?;
        let port = free_port()?;
        let child = Command::new(bin)
            .args(Self::args(port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            port,
            child: Some(child),
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Starts a daemonized `redis-server` that outlives this process, recording its port next
    /// to `pid_file`; if one recorded there still answers, reuses it.
    pub fn start_shared(pid_file: &Path, policy: Install) -> Result<Self> {
        let port_file = pid_file.with_extension("port");
        let recorded: Option<u16> = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse().ok());
        if let Some(port) = recorded.filter(|p| ping(*p)) {
            return Ok(Self { port, child: None });
        }
        let bin = Self::binary(policy)?;
        let port = free_port()?;
        run(Command::new(bin)
            .args(Self::args(port))
            .args(["--daemonize", "yes", "--pidfile"])
            .arg(pid_file))?;
        std::fs::write(&port_file, port.to_string())?;
        let server = Self { port, child: None };
        server.wait_ready()?;
        Ok(server)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops a child server.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn binary(policy: Install) -> Result<PathBuf> {
        ensure_installed("redis-server", "redis-server", policy, || {
            binary().is_some()
        })?;
        binary().ok_or_else(|| Error::Missing {
            program: "redis-server".into(),
            hint: "install redis-server".into(),
        })
    }

    fn args(port: u16) -> Vec<String> {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--dir",
            "/tmp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn wait_ready(&self) -> Result<()> {
        if wait_for_port(self.port, Duration::from_secs(10)) && ping(self.port) {
            Ok(())
        } else {
            Err(Error::Timeout(format!("Redis on port {}", self.port)))
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a Redis server answers `PING` on `127.0.0.1:port`.
pub fn ping(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_server_answers_and_stops() {
        let mut server = RedisServer::start(Install::from_env()).expect("redis-server starts");
        assert!(ping(server.port()));
        server.stop();
        assert!(!ping(server.port()), "stopped server no longer answers");
    }
}
