//! The platform under load: identity, learning and two gateways (Aula's plugins on, and the
//! bare engine with them off) as release child processes over a benchmark database, with an
//! S3-compatible server for learning's media and the machine's Redis. Each process's resident
//! memory is read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use migration::roles;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::seed;

/// The repository the bench was built from.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the bench keeps generated configurations and the services' logs.
fn work_dir() -> Result<PathBuf, String> {
    let dir = harness::state_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Builds the `aula` and `aula-gateway` release binaries (cargo only builds the bench's own
/// package for `cargo run -p bench`) and returns the folder they are in.
pub fn binaries() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .ok_or("the bench binary has no folder")?
        .to_path_buf();
    if std::env::var_os("CARGO").is_some() {
        eprintln!(
            "bench: building the services and the gateway (release; a clean build takes about 25 minutes on 2 cores) ..."
        );
    }
    local::cargo::build_beside(
        &exe,
        &repository().join("Cargo.toml"),
        &["-p", "aula", "-p", "gateway"],
    )?;
    for binary in ["aula", "aula-gateway"] {
        if !dir.join(binary).is_file() {
            return Err(format!(
                "{} is missing: run the bench with `cargo run -p bench --release`",
                dir.join(binary).display()
            ));
        }
    }
    Ok(dir)
}

/// One child process.
#[derive(Debug)]
pub struct Process {
    /// Its name in reports.
    pub name: &'static str,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: PathBuf,
    child: Child,
}

/// Resident memory of a process, in MiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rss {
    /// Resident now.
    pub current: f64,
    /// The peak since the process started.
    pub peak: f64,
}

impl Process {
    /// Current and peak resident memory (`VmRSS`, `VmHWM`).
    pub fn rss(&self) -> Result<Rss, String> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| format!("{} has exited", self.name))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("reading {}'s memory: {e}", self.name))?;
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        Ok(Rss {
            current: field("VmRSS:"),
            peak: field("VmHWM:"),
        })
    }

    async fn wait_ready(&mut self, path: &str) -> Result<(), String> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status} before becoming ready (log: {})",
                    self.name,
                    self.log.display()
                ));
            }
            let probe = client
                .get(format!("{}{path}", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("{} did not become ready within 60 s", self.name))
    }

    async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn spawn(
    name: &'static str,
    label: &str,
    mut command: Command,
    port: u16,
) -> Result<Process, String> {
    let log = work_dir()?.join(format!("{label}{name}.log"));
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    Ok(Process {
        name,
        url: format!("http://127.0.0.1:{port}"),
        log,
        child,
    })
}

fn free_port() -> Result<u16, String> {
    local::free_port().map_err(|e| e.to_string())
}

/// The running platform over one benchmark database.
#[derive(Debug)]
pub struct Platform {
    /// The identity subgraph.
    pub identity: Process,
    /// The learning subgraph.
    pub learning: Process,
    /// The gateway with every Aula plugin on.
    pub gateway: Process,
    /// The same router binary and supergraph with Aula's plugins off.
    pub bare: Process,
    s3: Option<harness::TestS3>,
}

/// Database connections each subgraph holds at most: the kit's default
/// (`database.max_connections`), which the bench leaves as it is. (16, the bench's size
/// before, was no faster on either path.)
pub fn subgraph_pool() -> u32 {
    kit::Config::default().database.max_connections
}

/// Worker threads of each service and gateway: one, as each would size itself in a pod with a
/// 1-CPU limit (tokio and the router count the CPUs they may use). Here five processes share two
/// cores; with two workers each they woke one another across cores, and the gateway path ran
/// about 15 % slower at 16 clients.
pub const WORKERS: u32 = 1;

impl Platform {
    /// Starts everything over `database` and waits until each process is ready; the gateway
    /// leaves off the plugins named in `without`. `label` prefixes the names of the logs and
    /// configurations, so platforms over different datasets can run side by side.
    pub async fn start(
        bin: &Path,
        database: &str,
        without: &[String],
        label: &str,
    ) -> Result<Platform, String> {
        // The gateways' configurations first: a bad `without` stops the run before any start.
        let mut configs = Vec::new();
        for (name, plugins) in [("gateway", true), ("bare", false)] {
            let config = work_dir()?.join(format!("{label}router-{name}.yaml"));
            router_config(&config, plugins, without)?;
            configs.push((name, config));
        }
        let redis = harness::redis_url();
        let s3 = harness::TestS3::start().await;
        let storage = s3.config();
        let encryption_key = encryption_key()?;
        let service = |name: &'static str| -> Result<(Command, u16), String> {
            let port = free_port()?;
            let mut command = Command::new(bin.join("aula"));
            command
                .arg(name)
                .env("AULA_LISTEN", format!("127.0.0.1:{port}"))
                .env("AULA_REDIS_URL", &redis)
                .env("AULA_TELEMETRY__LOG_FORMAT", "json")
                .env("TOKIO_WORKER_THREADS", WORKERS.to_string());
            Ok((command, port))
        };
        let identity_db = seed::role_url(roles::IDENTITY, database).await?;
        let learning_db = seed::role_url(roles::LEARNING, database).await?;

        let (mut command, port) = service("identity")?;
        command
            .env("AULA_DATABASE__URL", identity_db)
            .env("AULA_SERVICE__ENCRYPTION_KEY", &encryption_key)
            .env(
                "AULA_SERVICE__PUBLIC_URL",
                format!("http://127.0.0.1:{port}"),
            );
        let mut identity = spawn("identity", label, command, port)?;
        identity.wait_ready("/readyz").await?;
        let jwks = format!("{}/.well-known/jwks.json", identity.url);

        let (mut command, port) = service("learning")?;
        command
            .env("AULA_DATABASE__URL", learning_db)
            .env("AULA_AUTH__JWKS_URL", &jwks)
            .env("AULA_STORAGE__ENDPOINT", &storage.endpoint)
            .env("AULA_STORAGE__BUCKET", &storage.bucket)
            .env(
                "AULA_STORAGE__ACCESS_KEY_ID",
                storage.access_key_id.expose(),
            )
            .env(
                "AULA_STORAGE__SECRET_ACCESS_KEY",
                storage.secret_access_key.expose(),
            )
            .env("AULA_STORAGE__FORCE_PATH_STYLE", "true");
        let mut learning = spawn("learning", label, command, port)?;
        learning.wait_ready("/readyz").await?;

        let mut gateways = Vec::new();
        for (name, config) in configs {
            let port = free_port()?;
            let mut command = Command::new(bin.join("aula-gateway"));
            command
                .env("ROUTER_CONFIG_FILE_PATH", &config)
                .env("AULA_GATEWAY_PORT", port.to_string())
                .env("AULA_IDENTITY_URL", format!("{}/graphql", identity.url))
                .env("AULA_IDENTITY_BASE_URL", &identity.url)
                .env("AULA_LEARNING_URL", format!("{}/graphql", learning.url))
                .env("AULA_AUTH_JWKS_URL", &jwks)
                .env("AULA_REDIS_URL", &redis)
                .env("ROUTER_HTTP_WORKERS", WORKERS.to_string());
            let mut gateway = spawn(name, label, command, port)?;
            gateway.wait_ready("/readiness").await?;
            gateways.push(gateway);
        }
        let bare = gateways.pop().ok_or("no bare gateway")?;
        let gateway = gateways.pop().ok_or("no gateway")?;
        Ok(Platform {
            identity,
            learning,
            gateway,
            bare,
            s3: Some(s3),
        })
    }

    /// Every process, in report order.
    pub fn processes(&self) -> [&Process; 4] {
        [&self.gateway, &self.bare, &self.identity, &self.learning]
    }

    /// Every process's name and pid.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.processes()
            .iter()
            .filter_map(|p| Some((p.name, p.child.id()?)))
            .collect()
    }

    /// Stops every process and the storage server.
    pub async fn stop(mut self) {
        for process in [
            &mut self.gateway,
            &mut self.bare,
            &mut self.learning,
            &mut self.identity,
        ] {
            process.stop().await;
        }
        drop(self.s3.take());
    }
}

/// Identity's encryption key for benchmark databases, made once and kept in the bench's folder
/// (identity seals its signing keys with it, so a later run over the same dataset needs it).
fn encryption_key() -> Result<String, String> {
    let path = work_dir()?.join("encryption-key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        return Ok(key.trim().to_owned());
    }
    let key: [u8; 32] = rand::random();
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    std::fs::write(&path, &key).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key)
}

/// Writes the router configuration for the bench: the checked-in `gateway/router.yaml` with
/// absolute paths, budgets no benchmark reaches (the budget plugin still charges every request
/// in Redis) and, for the bare engine, no `plugins` section. Without `aula_trusted` the router
/// would refuse operations without a trusted-document id, so the bare engine does not require
/// one either: both run the same operation text (nor does the gateway when `without` names
/// `aula_trusted`). `without` names plugins the gateway leaves off, to measure what each costs.
fn router_config(path: &Path, plugins: bool, without: &[String]) -> Result<(), String> {
    use serde_yaml::Value;
    let gateway = repository().join("gateway");
    let source = gateway.join("router.yaml");
    let text = std::fs::read_to_string(&source)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let mut config: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", source.display()))?;
    let plugin_names: Vec<String> = config
        .get("plugins")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut set = |at: &[&str], value: Value| -> Result<(), String> {
        let (last, parents) = at.split_last().ok_or("empty path")?;
        let mut node = &mut config;
        for key in parents {
            node = node
                .get_mut(*key)
                .ok_or_else(|| format!("router.yaml has no {}", at.join(".")))?;
        }
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| format!("router.yaml: {} is not a map", parents.join(".")))?;
        if value.is_null() {
            map.remove(*last);
        } else {
            map.insert(Value::from(*last), value);
        }
        Ok(())
    };
    let absolute = |name: &str| Value::from(gateway.join(name).to_string_lossy().into_owned());
    set(&["supergraph", "path"], absolute("supergraph.graphql"))?;
    set(
        &["persisted_documents", "storage", "path"],
        absolute("trusted-documents.json"),
    )?;
    if plugins {
        let unreachable: Value =
            serde_yaml::from_str("{ requests: 1000000000000, cost: 1000000000000000 }")
                .map_err(|e| e.to_string())?;
        set(
            &["plugins", "aula_budgets", "config", "tenant"],
            unreachable.clone(),
        )?;
        set(
            &["plugins", "aula_budgets", "config", "api_client"],
            unreachable,
        )?;
        for name in without {
            if !plugin_names.contains(name) {
                return Err(format!("--without: router.yaml has no plugin {name}"));
            }
            set(&["plugins", name], Value::Null)?;
            if name == "aula_trusted" {
                set(&["persisted_documents", "require_id"], Value::from(false))?;
            }
        }
    } else {
        set(&["plugins"], Value::Null)?;
        set(&["persisted_documents", "require_id"], Value::from(false))?;
    }
    let yaml = serde_yaml::to_string(&config).map_err(|e| e.to_string())?;
    std::fs::write(path, yaml).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
