//! PostgreSQL for tests: finding or starting a server, the migrated template, and a fresh
//! database per test that connects as the subgraph roles.

use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};

use migration::roles::{self, OWNER};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::sync::OnceCell;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static ADMIN_URL: OnceCell<String> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

async fn connect(url: &str, max: u32) -> Result<DatabaseConnection, sea_orm::DbErr> {
    kit::server::connect_db(&kit::config::DatabaseConfig {
        url: kit::Secret::new(url),
        max_connections: max,
        acquire_timeout_secs: 10,
    })
    .await
}

async fn usable_admin(url: &str) -> bool {
    let Ok(db) = connect(url, 1).await else {
        return false;
    };
    let ok = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR (rolcreaterole AND rolcreatedb))",
        ))
        .await
        .is_ok_and(|r| r.is_some());
    db.close().await.ok();
    ok
}

/// A URL with administrator rights (creating roles and databases): `AULA_TEST_DATABASE_URL`,
/// else the machine's server on port 5432, else a cluster this harness starts (and shares).
pub async fn admin_url() -> String {
    ADMIN_URL
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("AULA_TEST_DATABASE_URL") {
                return url;
            }
            let listening = std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], 5432)),
                std::time::Duration::from_millis(300),
            )
            .is_ok();
            if listening && usable_admin(DEFAULT_ADMIN_URL).await {
                return DEFAULT_ADMIN_URL.to_owned();
            }
            tokio::task::spawn_blocking(start_own_cluster)
                .await
                .expect("starting the harness PostgreSQL cluster panicked")
        })
        .await
        .clone()
}

fn start_own_cluster() -> String {
    let dir = crate::state_dir();
    let lock = File::create(dir.join("postgres.lock")).expect("create postgres lock file");
    lock.lock().expect("lock the harness PostgreSQL cluster");
    let mut cluster =
        local::PostgresCluster::open(&dir.join("postgres"), local::Install::from_env())
            .unwrap_or_else(|e| panic!("no PostgreSQL reachable and none could be started: {e}"));
    cluster
        .start(&[
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=300",
        ])
        .unwrap_or_else(|e| panic!("starting the harness PostgreSQL cluster failed: {e}"));
    eprintln!(
        "harness: started PostgreSQL on port {} in {}",
        cluster.port(),
        cluster.data_dir().display()
    );
    cluster.admin_url()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Creates (once per migration fingerprint, under a cluster-wide lock) the migrated template
/// database, and sweeps databases left behind by test processes that died.
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let admin_url = admin_url().await;
            let admin = connect(&admin_url, 1)
                .await
                .expect("connect as administrator");
            roles::bootstrap(&admin).await.expect("bootstrap roles");
            let name = format!("aula_tpl_{}", migration::FINGERPRINT);
            admin
                .execute_unprepared("SELECT pg_advisory_lock(hashtext('aula.harness.template'))")
                .await
                .expect("template lock");
            let leftovers = admin
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT datname FROM pg_database WHERE datname LIKE 'aula\\_t\\_%'",
                ))
                .await
                .expect("list test databases");
            for row in leftovers {
                let db: String = row.try_get("", "datname").expect("datname");
                let pid = db.split('_').nth(2).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| !process_alive(p)) {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
                        ))
                        .await;
                }
            }
            // Templates of older migration sets: dropped unless another run is cloning one.
            let stale = admin
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT datname FROM pg_database WHERE datname LIKE 'aula\\_tpl\\_%' AND datname <> $1",
                    [name.clone().into()],
                ))
                .await
                .expect("list templates");
            for row in stale {
                let db: String = row.try_get("", "datname").expect("datname");
                let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\"")).await;
            }
            if roles::create_database(&admin, &name)
                .await
                .expect("create template")
            {
                let url = migration::url::for_role(&admin_url, OWNER, &name).expect("owner url");
                let result = async {
                    let owner = connect(&url, 1).await?;
                    migration::migrate(&owner).await?;
                    let violations =
                        migration::guard::check(&owner, &migration::guard::Scope::aula()).await?;
                    owner.close().await?;
                    Ok::<_, sea_orm::DbErr>(violations)
                }
                .await;
                match result {
                    Ok(v) if v.is_empty() => {}
                    other => {
                        let _ = admin
                            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                            .await;
                        panic!("migrating the template failed or violates isolation: {other:?}");
                    }
                }
            }
            admin
                .execute_unprepared("SELECT pg_advisory_unlock(hashtext('aula.harness.template'))")
                .await
                .expect("template unlock");
            admin.close().await.ok();
            name
        })
        .await
        .clone()
}

/// A fresh, fully migrated database for one test, dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    admin_url: String,
}

impl TestDb {
    /// Clones the migrated template into a new database.
    pub async fn new() -> Self {
        let template = template().await;
        let admin_url = admin_url().await;
        let name = format!(
            "aula_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .get(..8)
                .unwrap_or("x")
        );
        let admin = connect(&admin_url, 1)
            .await
            .expect("connect as administrator");
        roles::create_database_from(&admin, &name, Some(&template))
            .await
            .expect("clone the template");
        admin.close().await.ok();
        Self { name, admin_url }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection URL for `role` (loopback trust authentication).
    pub fn url_for(&self, role: &str) -> String {
        migration::url::for_role(&self.admin_url, role, &self.name).expect("role url")
    }

    /// A pool connected as `role`.
    pub async fn connect_as(&self, role: &str, max_connections: u32) -> DatabaseConnection {
        connect(&self.url_for(role), max_connections)
            .await
            .unwrap_or_else(|e| panic!("connect as {role}: {e}"))
    }

    /// A pool connected as the login role of the subgraph working in `schema` (never superuser).
    pub async fn service(&self, schema: &str) -> DatabaseConnection {
        self.service_pool(schema, 5).await
    }

    /// Like [`TestDb::service`], with a pool of exactly `max_connections`.
    pub async fn service_pool(&self, schema: &str, max_connections: u32) -> DatabaseConnection {
        let url = self.service_url(schema);
        connect(&url, max_connections)
            .await
            .unwrap_or_else(|e| panic!("connect as the {schema} service: {e}"))
    }

    /// The connection URL of the login role of the subgraph working in `schema`.
    pub fn service_url(&self, schema: &str) -> String {
        let role =
            roles::service(schema).unwrap_or_else(|| panic!("no service role for schema {schema}"));
        self.url_for(role.name)
    }

    /// A pool connected as the owner role (subject to forced row-level security).
    pub async fn owner(&self) -> DatabaseConnection {
        self.connect_as(OWNER, 2).await
    }

    /// An administrator pool on this database: only for tests that must break things on purpose.
    pub async fn admin(&self) -> DatabaseConnection {
        let url = migration::url::with_database(&self.admin_url, &self.name).expect("admin url");
        connect(&url, 1).await.expect("connect as administrator")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = self.admin_url.clone();
        let dropper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = connect(&url, 1).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()
            })
        });
        let _ = dropper.join();
    }
}
