//! The whole platform on one machine: local PostgreSQL and Redis (unless given), roles and
//! migrations, a seeded demo tenant, one child process per service, and a clean stop on Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use migration::roles::{self, OWNER};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sea_orm::DatabaseConnection;
use tenancy::{Role, TenantId, UserId};
use tokio::process::{Child, Command};

/// Prints a line; unlike `println!` it never panics when stdout is closed (a parent that went
/// away must not stop the launcher from shutting its servers down).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Stops a PostgreSQL cluster this launcher started, also when unwinding from a panic.
struct ClusterGuard(local::PostgresCluster);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        match self.0.stop() {
            Ok(()) => say!("aula: PostgreSQL stopped"),
            Err(e) => say!("aula: stopping PostgreSQL failed: {e}"),
        }
    }
}

/// The demo tenant's fixed id, so seeding is idempotent.
pub const DEMO_TENANT: TenantId = TenantId::from_uuid(uuid::Uuid::from_u128(
    0x0190_0000_0000_7000_8000_00de_0000_0001,
));

/// The demo owner's fixed id, so seeding is idempotent.
pub const DEMO_OWNER: UserId = UserId::from_uuid(uuid::Uuid::from_u128(
    0x0190_0000_0000_7000_8000_00de_0000_0002,
));

/// The database every service works in.
const DATABASE: &str = "aula";

const DEMO_OWNER_EMAIL: &str = "owner@demo.aula.test";

/// Every demo user's password (development data only).
pub const DEMO_PASSWORD: &str = "demo-academy-2026";

struct Running {
    name: &'static str,
    url: String,
    child: Child,
}

/// The repository this launcher was built from.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The gateway binary beside this one. Under `cargo run` it is (re)built first with the same
/// profile, since cargo only builds the `aula` package's binaries for `cargo run`.
fn gateway_binary(exe: &Path) -> Result<PathBuf, String> {
    let sibling = exe.with_file_name("aula-gateway");
    if std::env::var_os("CARGO").is_some() {
        say!("aula: building the gateway (a clean build takes several minutes) ...");
    }
    local::cargo::build_beside(
        exe,
        &repository().join("Cargo.toml"),
        &["-p", "gateway", "--bin", "aula-gateway"],
    )?;
    if sibling.is_file() {
        Ok(sibling)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build -p gateway`",
            sibling.display()
        ))
    }
}

fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AULA_DEV_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if checkout.join("Cargo.toml").exists() {
        checkout.join(".aula")
    } else {
        PathBuf::from(".aula")
    }
}

async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    kit::server::connect_db(&kit::config::DatabaseConfig {
        url: kit::Secret::new(url),
        max_connections: 2,
        acquire_timeout_secs: 10,
    })
    .await
    .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))
}

/// Roles, the database and migrations, given an administrator URL; then the isolation guard.
async fn prepare_database(admin_url: &str) -> Result<(), String> {
    let admin = connect(admin_url).await?;
    roles::bootstrap(&admin)
        .await
        .map_err(|e| format!("creating roles failed: {e}"))?;
    roles::create_database(&admin, DATABASE)
        .await
        .map_err(|e| format!("creating the database failed: {e}"))?;
    admin.close().await.ok();
    let owner_url = migration::url::for_role(admin_url, OWNER, DATABASE)?;
    let owner = connect(&owner_url).await?;
    migration::migrate(&owner)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    let violations = migration::guard::check(&owner, &migration::guard::Scope::aula())
        .await
        .map_err(|e| format!("isolation guard failed to run: {e}"))?;
    owner.close().await.ok();
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
        return Err(format!(
            "the schema violates tenant isolation:\n{}",
            list.join("\n")
        ));
    }
    Ok(())
}

/// `aula migrate`: bootstrap and migrate the database named by the environment.
pub async fn migrate_from_env() -> Result<(), String> {
    let admin = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to an administrator URL".to_owned())?;
    prepare_database(&admin).await?;
    say!("database {DATABASE} is migrated and isolated");
    Ok(())
}

async fn seed_demo(identity_url: &str) -> Result<(), String> {
    use identity::service::tenants::{self, NewTenant};
    let db = connect(identity_url).await?;
    let ctx = tenancy::TenantContext::anonymous(DEMO_TENANT);
    if tenants::get(&db, &ctx, DEMO_TENANT.as_uuid())
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        tenants::create_with_owner(
            &db,
            NewTenant {
                id: Some(DEMO_TENANT),
                owner_id: Some(DEMO_OWNER),
                name: "Demo Academy".into(),
                slug: "demo".into(),
                owner_email: DEMO_OWNER_EMAIL.into(),
                owner_name: "Dana Owner".into(),
                owner_password: Some(DEMO_PASSWORD.into()),
            },
        )
        .await
        .map_err(|e| format!("seeding the demo tenant failed: {e}"))?;
        for (email, name, role) in [
            ("admin@demo.aula.test", "Alex Admin", Role::Admin),
            (
                "instructor@demo.aula.test",
                "Ines Instructor",
                Role::Instructor,
            ),
            ("student@demo.aula.test", "Sam Student", Role::Student),
        ] {
            tenants::seed_user(&db, DEMO_TENANT, email, name, &[role], Some(DEMO_PASSWORD))
                .await
                .map_err(|e| format!("seeding {email} failed: {e}"))?;
        }
    }
    db.close().await.ok();
    Ok(())
}

/// A sample course: title, summary, price (`None`: left a draft), and its modules with their
/// lessons (title, free preview).
type SampleCourse = (
    &'static str,
    &'static str,
    Option<(i64, &'static str)>,
    &'static [(&'static str, &'static [(&'static str, bool)])],
);

/// Sample courses for the demo academy (once): two published, one free with a free-preview
/// lesson and one paid, and a draft only staff see. Written through learning's services.
async fn seed_demo_courses(learning_url: &str) -> Result<(), String> {
    use learning::service::courses::{self, CoursePatch, NewCourse};
    use learning::service::structure::{self, NewLesson};
    let db = connect(learning_url).await?;
    let owner = tenancy::TenantContext::user(DEMO_TENANT, DEMO_OWNER, [Role::Owner]);
    let window = kit::relay::PageArgs {
        first: Some(1),
        ..Default::default()
    }
    .window()
    .map_err(|e| e.to_string())?;
    let existing = courses::list(&db, &owner, None, window, false)
        .await
        .map_err(|e| e.to_string())?;
    if !existing.page.items.is_empty() {
        db.close().await.ok();
        return Ok(());
    }
    let samples: [SampleCourse; 3] = [
        (
            "Getting started with Aula",
            "A free tour for new students: how courses, lessons and progress work.",
            Some((0, "EUR")),
            &[
                (
                    "Welcome",
                    &[("What you will learn", true), ("How lessons work", false)],
                ),
                ("Your first week", &[("Setting goals", false)]),
            ],
        ),
        (
            "Teaching with Rust",
            "Systems programming for educators, from ownership to async.",
            Some((4900, "EUR")),
            &[
                ("Foundations", &[("Ownership", true), ("Borrowing", false)]),
                ("Going further", &[("Lifetimes", false), ("Async", false)]),
            ],
        ),
        (
            "Data science basics (draft)",
            "Not published yet: only staff see it.",
            None,
            &[("Outline", &[("To be written", false)])],
        ),
    ];
    let fail = |e: learning::LearningError| format!("seeding the demo courses failed: {e}");
    for (title, summary, price, modules) in samples {
        let course = courses::create(
            &db,
            &owner,
            NewCourse {
                title: title.into(),
                summary: Some(summary.into()),
                instructor_ids: vec![DEMO_OWNER.as_uuid()],
                ..Default::default()
            },
        )
        .await
        .map_err(fail)?;
        for (module_title, lessons) in modules.iter() {
            let module = structure::add_module(&db, &owner, course.id, module_title)
                .await
                .map_err(fail)?;
            for (lesson_title, preview) in lessons.iter() {
                let new = NewLesson {
                    title: (*lesson_title).into(),
                    kind: "text".into(),
                    body: Some(format!("# {lesson_title}\n\nSample content.")),
                    free_preview: *preview,
                    duration_minutes: Some(10),
                    ..Default::default()
                };
                structure::add_lesson(&db, &owner, module.id, new)
                    .await
                    .map_err(fail)?;
            }
        }
        if let Some((cents, currency)) = price {
            let patch = CoursePatch {
                price: Some(Some((cents, currency.into()))),
                ..Default::default()
            };
            courses::update(&db, &owner, course.id, patch)
                .await
                .map_err(fail)?;
            courses::publish(&db, &owner, course.id)
                .await
                .map_err(fail)?;
        }
    }
    db.close().await.ok();
    Ok(())
}

/// Signs the demo owner in through identity's API, exactly as the web app does.
async fn demo_sign_in(identity_url: &str) -> Result<String, String> {
    let query = "mutation($input: SignInInput!) { signIn(input: $input) { ... on Session { accessToken } } }";
    let body = serde_json::json!({
        "query": query,
        "variables": { "input": { "tenant": "demo", "email": DEMO_OWNER_EMAIL, "password": DEMO_PASSWORD } },
    });
    let resp: serde_json::Value = kit::server::http_client()
        .post(format!("{identity_url}/graphql"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    resp["data"]["signIn"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("demo sign-in failed: {resp}"))
}

/// A development secret kept in the file `path` (generated on first use): identity's
/// encryption key, the local S3 server's secret.
fn dev_secret(path: &Path) -> Result<String, String> {
    if let Ok(key) = std::fs::read_to_string(path) {
        return Ok(key.trim().to_owned());
    }
    let key = identity::crypto::Sealer::generate_key();
    std::fs::write(path, &key).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key)
}

fn port_or_free(preferred: u16) -> Result<u16, String> {
    if std::net::TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        Ok(preferred)
    } else {
        local::free_port().map_err(|e| e.to_string())
    }
}

async fn wait_ready(url: &str, child: &mut Child) -> Result<(), String> {
    let client = kit::server::http_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status} before becoming ready"));
        }
        let probe = client
            .get(format!("{url}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if probe.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("did not become ready within 60 seconds".into())
}

/// Runs everything until Ctrl-C or SIGTERM, then stops everything it started.
pub async fn run() -> Result<(), String> {
    let dir = data_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let install = local::Install::from_env();

    let mut cluster = None;
    let admin_url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            let pg_dir = dir.join("postgres");
            let dir_for_blocking = pg_dir.clone();
            let mut c = tokio::task::spawn_blocking(move || {
                local::PostgresCluster::open(&dir_for_blocking, install)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("local PostgreSQL: {e}"))?;
            c.start(&[])
                .map_err(|e| format!("starting PostgreSQL in {} failed: {e}", pg_dir.display()))?;
            say!(
                "aula: PostgreSQL is running on 127.0.0.1:{} (data in {})",
                c.port(),
                c.data_dir().display()
            );
            let url = c.admin_url();
            cluster = Some(ClusterGuard(c));
            url
        }
    };
    let result = run_with_database(&dir, &admin_url, install).await;
    drop(cluster);
    result
}

async fn run_with_database(
    dir: &Path,
    admin_url: &str,
    install: local::Install,
) -> Result<(), String> {
    let mut redis_server = None;
    let redis_url = match std::env::var("REDIS_URL") {
        Ok(url) => url,
        Err(_) => {
            let server =
                local::RedisServer::start(install).map_err(|e| format!("local Redis: {e}"))?;
            say!("aula: Redis is running on 127.0.0.1:{}", server.port());
            let url = server.url();
            redis_server = Some(server);
            url
        }
    };
    // Course media: an S3-compatible server in this process, over files in the data folder.
    let s3_secret = dev_secret(&dir.join("dev-s3-secret"))?;
    let base_port: u16 = std::env::var("AULA_DEV_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4000);
    let s3_port = port_or_free(base_port + 9)?;
    let s3 = local::S3Server::start(&dir.join("s3"), DEV_BUCKET, s3_port, DEV_S3_KEY, &s3_secret)
        .await
        .map_err(|e| format!("local S3 server: {e}"))?;
    say!(
        "aula: S3-compatible media storage is running on {} (files in {})",
        s3.endpoint(),
        dir.join("s3").display()
    );
    prepare_database(admin_url).await?;
    let identity_db = migration::url::for_role(admin_url, roles::IDENTITY, DATABASE)?;
    seed_demo(&identity_db).await?;
    let encryption_key = dev_secret(&dir.join("dev-encryption-key"))?;

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut running: Vec<Running> = Vec::new();
    let learning_db = migration::url::for_role(admin_url, roles::LEARNING, DATABASE)?;
    seed_demo_courses(&learning_db).await?;
    let services = [
        (identity::NAME, base_port + 1, identity_db),
        (learning::NAME, base_port + 2, learning_db),
    ];
    let mut outcome = Ok(());
    let mut identity_url = String::new();
    for (name, preferred, db_url) in services {
        let port = match port_or_free(preferred) {
            Ok(p) => p,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(&exe);
        command
            .arg(name)
            .env("AULA_LISTEN", format!("127.0.0.1:{port}"))
            .env("AULA_DATABASE__URL", &db_url)
            .env("AULA_REDIS_URL", &redis_url)
            .env("AULA_GRAPHIQL", "true")
            .env(
                "AULA_TELEMETRY__LOG_FORMAT",
                std::env::var("AULA_DEV_LOG_FORMAT").unwrap_or_else(|_| "pretty".into()),
            );
        if name == identity::NAME {
            identity_url.clone_from(&url);
            command
                .env("AULA_SERVICE__ENCRYPTION_KEY", &encryption_key)
                .env("AULA_SERVICE__PUBLIC_URL", &url);
        } else {
            command.env(
                "AULA_AUTH__JWKS_URL",
                format!("{identity_url}/.well-known/jwks.json"),
            );
        }
        if name == learning::NAME {
            command
                .env("AULA_STORAGE__ENDPOINT", s3.endpoint())
                .env("AULA_STORAGE__BUCKET", DEV_BUCKET)
                .env("AULA_STORAGE__ACCESS_KEY_ID", DEV_S3_KEY)
                .env("AULA_STORAGE__SECRET_ACCESS_KEY", &s3_secret)
                .env("AULA_STORAGE__FORCE_PATH_STYLE", "true");
        }
        let spawned = command.stdin(Stdio::null()).kill_on_drop(true).spawn();
        match spawned {
            Ok(child) => running.push(Running { name, url, child }),
            Err(e) => {
                outcome = Err(format!("cannot start {name}: {e}"));
                break;
            }
        }
    }
    if outcome.is_ok() {
        for svc in running.iter_mut() {
            if let Err(e) = wait_ready(&svc.url, &mut svc.child).await {
                outcome = Err(format!("{} {e}", svc.name));
                break;
            }
        }
    }
    if outcome.is_ok() {
        let learning_url = running
            .iter()
            .find(|s| s.name == learning::NAME)
            .map(|s| s.url.clone())
            .unwrap_or_default();
        match start_gateway(&exe, base_port, &identity_url, &learning_url, &redis_url).await {
            Ok(gateway) => running.push(gateway),
            Err(e) => outcome = Err(e),
        }
    }
    let mut token = String::new();
    if outcome.is_ok() {
        match demo_sign_in(&running[0].url).await {
            Ok(t) => token = t,
            Err(e) => outcome = Err(e),
        }
    }
    if outcome.is_ok() {
        say!("\nAula is running.\n");
        for svc in &running {
            say!(
                "  {:<10} GraphQL (GraphiQL in a browser): {}/graphql",
                svc.name,
                svc.url
            );
            say!(
                "  {:<10} health: {}/healthz  readiness: {}/readyz  metrics: {}/metrics",
                "",
                svc.url,
                svc.url,
                svc.url
            );
        }
        if let Some(gateway) = running.iter().find(|s| s.name == "gateway") {
            let port = gateway.url.rsplit(':').next().unwrap_or_default();
            say!(
                "\n  The demo academy's own address (anonymous visitors are bound to it): http://demo.{}:{port}/graphql",
                PLATFORM_DOMAIN
            );
        }
        say!("\n  Demo tenant: Demo Academy (slug demo)");
        say!(
            "  Sign in as owner@, admin@, instructor@ or student@demo.aula.test with password {DEMO_PASSWORD}"
        );
        say!(
            "  Demo owner access token (15 minutes; send as `Authorization: Bearer <token>`):\n  {token}\n"
        );
        say!("  Press Ctrl-C to stop everything.");
        outcome = wait_for_stop(&mut running).await;
    }
    stop_all(&mut running).await;
    s3.stop().await;
    if let Some(mut r) = redis_server.take() {
        r.stop();
        say!("aula: Redis stopped");
    }
    outcome
}

/// The bucket and access key of the launcher's S3-compatible server (its secret is generated
/// once and kept in the data folder).
const DEV_BUCKET: &str = "aula-media";
const DEV_S3_KEY: &str = "aula-dev";

/// The domain academies are served under locally (`<slug>.aula.localhost` reaches 127.0.0.1).
const PLATFORM_DOMAIN: &str = "aula.localhost";

/// Starts the gateway in front of identity and learning on `port` (or a free one), with
/// the checked-in router configuration and supergraph, and waits until it is ready.
async fn start_gateway(
    exe: &Path,
    port: u16,
    identity_url: &str,
    learning_url: &str,
    redis_url: &str,
) -> Result<Running, String> {
    let binary = gateway_binary(exe)?;
    let port = port_or_free(port)?;
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(binary)
        .env(
            "ROUTER_CONFIG_FILE_PATH",
            repository().join("gateway/router.yaml"),
        )
        .env("AULA_GATEWAY_PORT", port.to_string())
        .env("AULA_GATEWAY_INTROSPECTION", "true")
        .env("AULA_GATEWAY_LABORATORY", "true")
        .env("AULA_GATEWAY_LOG_FORMAT", "text")
        .env("AULA_IDENTITY_URL", format!("{identity_url}/graphql"))
        .env("AULA_IDENTITY_BASE_URL", identity_url)
        .env("AULA_LEARNING_URL", format!("{learning_url}/graphql"))
        .env(
            "AULA_AUTH_JWKS_URL",
            format!("{identity_url}/.well-known/jwks.json"),
        )
        .env("AULA_REDIS_URL", redis_url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the gateway: {e}"))?;
    let mut gateway = Running {
        name: "gateway",
        url,
        child,
    };
    wait_ready(&gateway.url, &mut gateway.child)
        .await
        .map_err(|e| format!("gateway {e}"))?;
    Ok(gateway)
}

async fn wait_for_stop(running: &mut [Running]) -> Result<(), String> {
    let exited = async {
        loop {
            for svc in running.iter_mut() {
                if let Ok(Some(status)) = svc.child.try_wait() {
                    return format!("{} exited unexpectedly ({status})", svc.name);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = kit::server::shutdown_signal() => { say!("\naula: stopping ..."); Ok(()) }
        message = exited => Err(message),
    }
}

async fn stop_all(running: &mut [Running]) {
    for svc in running.iter() {
        if let Some(pid) = svc.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    for svc in running.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(25), svc.child.wait()).await {
            Ok(_) => say!("aula: {} stopped", svc.name),
            Err(_) => {
                let _ = svc.child.kill().await;
                say!("aula: {} did not stop in time and was killed", svc.name);
            }
        }
    }
}
