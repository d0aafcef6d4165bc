//! The gateway as its end-to-end tests run it: the built `aula-gateway` binary, configured with
//! the checked-in `router.yaml`, in front of the real identity service and a small catalog test
//! subgraph, with a supergraph composed for their loopback addresses, and a client that talks
//! HTTP to it like the web app and partners do.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

pub mod catalog;
#[path = "../../../subgraphs/identity/tests/common/mod.rs"]
pub mod identity_env;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use local::compose::Subgraph;
use serde_json::{Value, json};

pub use catalog::Catalog;
pub use identity_env::{Env as Identity, PASSWORD, Tenant};

/// The platform domain identity routes (`<slug>.aula.localhost`).
pub const DOMAIN: &str = "aula.localhost";

/// The checked-in router configuration.
pub fn router_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("router.yaml"))
        .expect("gateway/router.yaml")
}

/// `yaml` with `from` replaced by `to`; panics when `from` is not there (the test would
/// silently test the defaults otherwise).
pub fn replace(yaml: &str, from: &str, to: &str) -> String {
    assert!(
        yaml.contains(from),
        "router.yaml no longer contains {from:?}"
    );
    yaml.replacen(from, to, 1)
}

/// Identity, the catalog, and one gateway in front of them.
pub struct Stack {
    /// Identity (its database, key ring and server).
    pub identity: Identity,
    /// The catalog test subgraph.
    pub catalog: Catalog,
    /// The gateway.
    pub gateway: Gateway,
    /// The folder holding the gateway's configuration and supergraph.
    pub dir: Scratch,
}

impl Stack {
    /// Starts everything with the checked-in configuration.
    pub async fn start() -> Stack {
        Self::start_with(|yaml| yaml).await
    }

    /// Starts everything with the checked-in configuration as `edit` changes it.
    pub async fn start_with(edit: impl FnOnce(String) -> String) -> Stack {
        let identity = Identity::start().await;
        let catalog = Catalog::start().await;
        let dir = Scratch::new();
        std::fs::write(dir.0.join("router.yaml"), edit(router_yaml())).expect("write config");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("trusted-documents.json");
        std::fs::copy(manifest, dir.0.join("trusted-documents.json")).expect("copy manifest");
        write_supergraph(&dir.0, &identity, Some(&catalog));
        let gateway = Gateway::start(&dir.0, &identity).await;
        Stack {
            identity,
            catalog,
            gateway,
            dir,
        }
    }

    /// Another gateway process with the same configuration (another replica).
    pub async fn replica(&self) -> Gateway {
        Gateway::start(&self.dir.0, &self.identity).await
    }

    /// A tenant with an owner, whose catalog courses that owner teaches.
    pub async fn tenant(&self, slug: &str) -> Tenant {
        let tenant = self.identity.tenant(slug).await;
        self.catalog.assign(tenant.id, tenant.owner);
        tenant
    }

    /// The tenant's platform host name.
    pub fn host(tenant: &Tenant) -> String {
        format!("{}.{DOMAIN}", tenant.slug)
    }

    /// An owner's access token for `tenant`, signed by identity.
    pub fn owner_token(&self, tenant: &Tenant) -> String {
        self.identity
            .token(tenant.id, tenant.owner, &[tenancy::Role::Owner])
    }
}

/// Identity as a subgraph of a test supergraph.
pub fn identity_subgraph(identity: &Identity) -> Subgraph {
    Subgraph {
        name: "identity".into(),
        url: identity.server.at("/graphql"),
        sdl: kit::graphql::sdl(identity::schema()),
    }
}

/// Composes identity (and the catalog, when given) for their loopback addresses into
/// `dir/supergraph.graphql`.
pub fn write_supergraph(dir: &Path, identity: &Identity, catalog: Option<&Catalog>) {
    let mut subgraphs = vec![identity_subgraph(identity)];
    if let Some(catalog) = catalog {
        subgraphs.push(Subgraph {
            name: "catalog".into(),
            url: catalog.server.at("/graphql"),
            sdl: catalog::sdl(),
        });
    }
    write_composed(dir, &subgraphs);
}

/// Composes `subgraphs` into `dir/supergraph.graphql`.
pub fn write_composed(dir: &Path, subgraphs: &[Subgraph]) {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose");
    let supergraph = local::compose::supergraph(&tool, subgraphs).expect("composition");
    // Written whole and renamed, so the gateway's poll never sees half a file.
    let tmp = dir.join("supergraph.graphql.tmp");
    std::fs::write(&tmp, supergraph).expect("write supergraph");
    std::fs::rename(&tmp, dir.join("supergraph.graphql")).expect("move supergraph");
}

/// A folder under the harness state directory, removed when dropped.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new, empty folder.
    pub fn new() -> Self {
        let dir = harness::state_dir().join(format!("gateway-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `aula-gateway` process, killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    child: Child,
    log: PathBuf,
}

impl Gateway {
    /// Starts the binary in `dir` (holding `router.yaml` and `supergraph.graphql`) against
    /// `identity` and the test Redis, and waits until it is ready.
    pub async fn start(dir: &Path, identity: &Identity) -> Gateway {
        Self::start_with_env(dir, identity, &[]).await
    }

    /// Like [`Gateway::start`], with extra environment variables (other subgraphs' URLs).
    pub async fn start_with_env(dir: &Path, identity: &Identity, env: &[(&str, &str)]) -> Gateway {
        let port = local::free_port().expect("a free port");
        let log = dir.join(format!("gateway-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_aula-gateway"))
            .current_dir(dir)
            .env("ROUTER_CONFIG_FILE_PATH", dir.join("router.yaml"))
            .env("AULA_GATEWAY_HOST", "127.0.0.1")
            .env("AULA_GATEWAY_PORT", port.to_string())
            .env("AULA_GATEWAY_LOG_FORMAT", "text")
            .env("AULA_IDENTITY_URL", identity.server.at("/graphql"))
            .env("AULA_IDENTITY_BASE_URL", &identity.server.url)
            .env(
                "AULA_AUTH_JWKS_URL",
                identity.server.at("/.well-known/jwks.json"),
            )
            .env("AULA_AUTH_ISSUER", &identity.identity.auth.issuer)
            .env("AULA_AUTH_AUDIENCE", &identity.identity.auth.audience)
            .env("AULA_REDIS_URL", harness::redis_url())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the gateway binary starts");
        let mut gateway = Gateway {
            url: format!("http://127.0.0.1:{port}"),
            addr: format!("127.0.0.1:{port}"),
            child,
            log,
        };
        gateway.wait_ready().await;
        gateway
    }

    async fn wait_ready(&mut self) {
        let http = kit::server::http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the gateway exited ({status}):\n{}", self.log_text());
            }
            if let Ok(resp) = http.get(format!("{}/readiness", self.url)).send().await
                && resp.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway was not ready in 60s:\n{}", self.log_text());
    }

    /// Everything the gateway has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the gateway logs `needle` within five seconds (its log is written
    /// asynchronously).
    pub async fn logs(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A GraphQL request to `/graphql`.
    pub fn request(&self, query: &str) -> Request {
        Request {
            url: format!("{}/graphql", self.url),
            body: json!({ "query": query }),
            headers: vec![("x-aula-csrf".into(), "1".into())],
        }
    }

    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = kit::server::http_client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("the gateway answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request being built.
#[derive(Clone, Debug)]
pub struct Request {
    url: String,
    body: Value,
    headers: Vec<(String, String)>,
}

/// The gateway's answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// `extensions.code` of the first error (`<none>` without errors).
    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<none>")
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether it is a successful GraphQL response without errors.
    pub fn ok(&self) -> bool {
        self.status == 200 && self.body["errors"].is_null() && !self.body["data"].is_null()
    }
}

impl Request {
    /// With these variables.
    pub fn vars(mut self, variables: Value) -> Self {
        self.body["variables"] = variables;
        self
    }

    /// With `Authorization: Bearer <token>`.
    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Addressed to `host` (the `Host` header).
    pub fn host(self, host: &str) -> Self {
        self.header("host", host)
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// With `extensions` in the body.
    pub fn extensions(mut self, extensions: Value) -> Self {
        self.body["extensions"] = extensions;
        self
    }

    /// Naming a trusted document by id instead of sending a query.
    pub fn document(mut self, id: &str) -> Self {
        if let Some(body) = self.body.as_object_mut() {
            body.remove("query");
            body.insert("documentId".into(), json!(id));
        }
        self
    }

    /// Sends it.
    pub async fn send(self) -> Reply {
        let mut req = kit::server::http_client().post(&self.url).json(&self.body);
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("a JSON body, got {status}: {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }
}
