//! The SQL-only scenarios. `limit` runs the statements the catalog query ends up issuing (the
//! first page of an academy's published courses, their enrollment counts, their instructors'
//! names), each subgraph's in its own tenant transaction as the services run them. `rls` runs
//! learning's part under row-level security against the same statements with an explicit
//! `WHERE tenant_id = $1` on copies of the tables without RLS.

use sea_orm::sqlx::postgres::{PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, Row};
use uuid::Uuid;

use crate::Options;
use crate::load::{self, Report};
use crate::platform::subgraph_pool;
use crate::seed;

// The statements exactly as the services issue them (read off `pg_stat_statements` while the
// gateway scenario ran: the limit's statements and the subgraphs' count as one entry each).
// sea-orm binds the status and the page size, and lists ids as `IN ($1, ..)`. The form matters:
// PostgreSQL plans `id = ANY($1)` afresh on every execution here (it keeps choosing a custom
// plan) but reuses a generic plan for the `IN` list, which made the limit pay about 0.05 ms of
// planning per page that identity never pays.
const COURSES: &str = "SELECT \"courses\".\"tenant_id\", \"courses\".\"id\", \"courses\".\"slug\", \
    \"courses\".\"title\", \"courses\".\"summary\", \"courses\".\"description\", \
    \"courses\".\"language\", \"courses\".\"level\", \"courses\".\"tags\", \
    \"courses\".\"price_cents\", \"courses\".\"currency\", \"courses\".\"status\", \
    \"courses\".\"instructor_ids\", \
    \"courses\".\"published_at\", \"courses\".\"created_at\", \"courses\".\"updated_at\", \
    \"courses\".\"cover_media_id\" FROM \"learning\".\"courses\" WHERE \"courses\".\"status\" = $1 \
    ORDER BY \"courses\".\"id\" ASC LIMIT $2";
const COUNTS: &str = "SELECT course_id, count(*) AS n FROM learning.enrollments \
    WHERE course_id = ANY($1) AND status IN ('active', 'completed') GROUP BY course_id";
/// Identity's instructors query for `n` ids.
fn users(n: usize) -> String {
    let list: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!(
        "SELECT \"users\".\"tenant_id\", \"users\".\"id\", \"users\".\"email\", \
         \"users\".\"display_name\", \"users\".\"roles\", \"users\".\"email_verified_at\", \
         \"users\".\"created_at\", \"users\".\"updated_at\" FROM \"identity\".\"users\" \
         WHERE \"users\".\"id\" IN ({})",
        list.join(", ")
    )
}
/// The page size the catalog asks for, plus the one row that says whether a next page exists.
const PAGE_ROWS: i64 = crate::http::PAGE as i64 + 1;
const SET_TENANT: &str = "SELECT set_config('app.tenant_id', $1, true)";

const PLAIN_COURSES: &str = "SELECT tenant_id, id, slug, title, summary, description, language, \
    level, tags, price_cents, currency, status, instructor_ids, published_at, created_at, \
    updated_at, cover_media_id FROM bench_plain.courses WHERE tenant_id = $1 \
    AND status = $2 ORDER BY id ASC LIMIT $3";
const PLAIN_COUNTS: &str = "SELECT course_id, count(*) AS n FROM bench_plain.enrollments \
    WHERE tenant_id = $1 AND course_id = ANY($2) AND status IN ('active', 'completed') \
    GROUP BY course_id";

/// A pool that behaves as the services' do under load: `kit::server::connect_db` pings only
/// connections idle for a second, and these are in use back to back, so no checkout is pinged.
/// (sqlx pings every connection it takes back, here as in the services.)
async fn pool(role: &str, size: u32, database: &str) -> Result<PgPool, String> {
    PgPoolOptions::new()
        .max_connections(size)
        .test_before_acquire(false)
        .connect(&seed::role_url(role, database).await?)
        .await
        .map_err(|e| format!("connecting as {role}: {e} (run `bench seed` first)"))
}

/// The administrator's connection to `database`.
pub async fn admin(database: &str) -> Result<PgPool, String> {
    PgPool::connect(&seed::admin_url(database).await?)
        .await
        .map_err(|e| format!("connecting to {database}: {e} (run `bench seed` first)"))
}

fn err(e: sqlx::Error) -> String {
    format!("query failed: {e}")
}

/// How learning's part of the page keeps to its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tenancy {
    /// Row-level security, the transaction opened as `tenancy::TenantTx` opens it:
    /// `BEGIN; SET LOCAL ..` as one simple query (one round trip).
    Rls,
    /// Row-level security, `BEGIN` then `set_config` as a statement of its own (two round
    /// trips): how `TenantTx` opened transactions while it ran on sea-orm's own transaction; kept
    /// to show the cost.
    RlsSetAfterBegin,
    /// A plain transaction over the copies without RLS, every statement filtering on
    /// `tenant_id = $1`.
    Explicit,
}

/// A transaction for `tenant`'s rows under `tenancy`.
async fn tenant_tx(
    db: &PgPool,
    tenant: Uuid,
    tenancy: Tenancy,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, String> {
    match tenancy {
        Tenancy::Rls => {
            // The tenant is a `Uuid`, formatted by us: nothing from outside reaches the text.
            let statement = format!("BEGIN; SET LOCAL app.tenant_id = '{tenant}'");
            db.begin_with(sqlx::AssertSqlSafe(statement))
                .await
                .map_err(err)
        }
        Tenancy::RlsSetAfterBegin => {
            let mut tx = db.begin().await.map_err(err)?;
            sqlx::query(SET_TENANT)
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            Ok(tx)
        }
        Tenancy::Explicit => db.begin().await.map_err(err),
    }
}

/// Learning's part of the page for `tenant`: the course ids and instructor ids. Every variant
/// of `tenancy` does the same work on the rows, so only the database's part differs.
async fn learning_part(db: &PgPool, tenant: Uuid, tenancy: Tenancy) -> Result<Vec<Uuid>, String> {
    let mut tx = tenant_tx(db, tenant, tenancy).await?;
    let (courses, counts) = match tenancy {
        Tenancy::Explicit => (
            sqlx::query(PLAIN_COURSES).bind(tenant),
            sqlx::query(PLAIN_COUNTS).bind(tenant),
        ),
        Tenancy::Rls | Tenancy::RlsSetAfterBegin => (sqlx::query(COURSES), sqlx::query(COUNTS)),
    };
    let rows = courses
        .bind("published")
        .bind(PAGE_ROWS)
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
    if rows.is_empty() {
        return Err(format!("tenant {tenant} has no published course"));
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
    let mut instructors: Vec<Uuid> = rows
        .iter()
        .flat_map(|r| r.get::<Vec<Uuid>, _>("instructor_ids"))
        .collect();
    counts.bind(&ids).fetch_all(&mut *tx).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    instructors.sort_unstable();
    instructors.dedup();
    Ok(instructors)
}

async fn identity_part(db: &PgPool, tenant: Uuid, ids: &[Uuid]) -> Result<(), String> {
    if ids.is_empty() {
        // A page without instructors: the gateway asks identity nothing either.
        return Ok(());
    }
    let mut tx = tenant_tx(db, tenant, Tenancy::Rls).await?;
    let statement = users(ids.len());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
    for id in ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(&mut *tx).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    if rows.len() != ids.len() {
        return Err(format!("{} of {} instructors found", rows.len(), ids.len()));
    }
    Ok(())
}

/// The tenant a request `i` is for: spread over all `tenants`.
fn tenant_for(tenants: u64, i: usize) -> Uuid {
    let t = (i as u64).wrapping_mul(2_654_435_761) % tenants;
    seed::tenant_id(t)
}

/// How many tenants the benchmark database holds (read back, so a run measures what is there).
pub async fn seeded(db: &PgPool) -> Result<u64, String> {
    let tenants: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity.tenant_directory WHERE name LIKE 'bench-%'",
    )
    .fetch_one(db)
    .await
    .map_err(err)?;
    if tenants == 0 {
        return Err("the benchmark database is empty: run `bench seed` first".into());
    }
    Ok(tenants as u64)
}

/// The catalog SQL straight into PostgreSQL, ready to be measured in rounds: its pools live
/// across them (and are shared by its clones).
#[derive(Clone)]
pub struct Limit {
    learning: PgPool,
    identity: PgPool,
    tenants: u64,
}

impl Limit {
    /// Connects to the benchmark `database` as the subgraphs' roles, with the pools the
    /// subgraphs have: a connection per client, at most [`subgraph_pool`] per role (more clients
    /// wait for a connection there as they do in the services).
    pub async fn open(database: &str, concurrency: usize) -> Result<Self, String> {
        let size = (concurrency as u32).min(subgraph_pool());
        let admin = admin(database).await?;
        Ok(Self {
            learning: pool("aula_learning", size, database).await?,
            identity: pool("aula_identity", size, database).await?,
            tenants: seeded(&admin).await?,
        })
    }

    /// One measured run of `options.duration` after `options.warmup`.
    pub async fn run(&self, options: &Options) -> Result<Report, String> {
        let (learning, identity, tenants) =
            (self.learning.clone(), self.identity.clone(), self.tenants);
        load::run(
            "limit (catalog SQL)",
            options.concurrency,
            options.warmup,
            options.duration,
            Vec::new(),
            move |i| {
                let (learning, identity) = (learning.clone(), identity.clone());
                let tenant = tenant_for(tenants, i);
                async move {
                    let instructors = learning_part(&learning, tenant, Tenancy::Rls).await?;
                    identity_part(&identity, tenant, &instructors).await
                }
            },
        )
        .await
    }
}

/// Learning's catalog SQL under RLS versus explicit tenant filters on copies without RLS, the
/// variants alternating in rounds; each is printed at the end.
pub async fn rls(options: &Options) -> Result<Rls, String> {
    let database = seed::database(options);
    let admin = admin(&database).await?;
    let tenants = seeded(&admin).await?;
    for statement in [
        "DROP SCHEMA IF EXISTS bench_plain CASCADE",
        "CREATE SCHEMA bench_plain",
        // Made as the seed made the originals, so only RLS differs: the tables with every
        // index first, then the rows in the same order. (Indexes built after the rows would be
        // denser than the originals', which grew row by row, and flatter the explicit variant.)
        // The generated search column is copied as plain values.
        "CREATE TABLE bench_plain.courses (LIKE learning.courses INCLUDING DEFAULTS INCLUDING INDEXES)",
        "CREATE TABLE bench_plain.enrollments (LIKE learning.enrollments INCLUDING DEFAULTS INCLUDING INDEXES)",
        "INSERT INTO bench_plain.courses SELECT * FROM learning.courses",
        "INSERT INTO bench_plain.enrollments SELECT * FROM learning.enrollments",
        "GRANT USAGE ON SCHEMA bench_plain TO aula_learning",
        "GRANT SELECT ON ALL TABLES IN SCHEMA bench_plain TO aula_learning",
        // As the seeded tables: frozen (hint bits set, visibility map built) and analysed.
        "VACUUM (FREEZE, ANALYZE) bench_plain.courses",
        "VACUUM (FREEZE, ANALYZE) bench_plain.enrollments",
    ] {
        sqlx::query(statement).execute(&admin).await.map_err(err)?;
    }
    let size = options.concurrency as u32;
    let learning = pool("aula_learning", size, &database).await?;
    let variants = [
        ("rls (tenant transaction)", Tenancy::Rls),
        ("rls, set_config after BEGIN", Tenancy::RlsSetAfterBegin),
        ("explicit WHERE tenant_id", Tenancy::Explicit),
    ];
    // The variants alternate in rounds; each is reported whole at the end.
    let merged = load::alternate(variants.len(), options, |v, round| {
        let (name, tenancy) = variants[v];
        let learning = learning.clone();
        async move {
            load::run(
                name,
                round.concurrency,
                round.warmup,
                round.duration,
                Vec::new(),
                move |i| {
                    let learning = learning.clone();
                    let tenant = tenant_for(tenants, i);
                    async move { learning_part(&learning, tenant, tenancy).await.map(|_| ()) }
                },
            )
            .await
        }
    })
    .await;
    sqlx::query("DROP SCHEMA bench_plain CASCADE")
        .execute(&admin)
        .await
        .map_err(err)?;
    let [as_tenant_tx, set_after_begin, explicit]: [Report; 3] =
        merged?.try_into().map_err(|_| "a variant was not run")?;
    for report in [&as_tenant_tx, &set_after_begin, &explicit] {
        report.print();
    }
    Ok(Rls {
        as_tenant_tx,
        set_after_begin,
        explicit,
    })
}

/// The `rls` scenario's three runs.
#[derive(Debug)]
pub struct Rls {
    /// Under RLS, the transaction opened as `TenantTx` does.
    pub as_tenant_tx: Report,
    /// Under RLS, the tenant set by a statement after `BEGIN` (one more round trip).
    pub set_after_begin: Report,
    /// Explicit `WHERE tenant_id` on copies without RLS.
    pub explicit: Report,
}
