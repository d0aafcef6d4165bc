//! Seeding: a fresh `aula_bench` database (roles, migrations, the isolation guard) filled with
//! COPY as the database administrator: tenants with their routing slugs, instructors and
//! students, published and draft courses with two modules of five lessons, and enrollments.

use std::fmt::Write as _;
use std::time::Instant;

use migration::roles;
use sea_orm::sqlx::Postgres;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgCopyIn, PgPool, PgPoolCopyExt, PgPoolOptions};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

use crate::Options;

/// Every student's password. The seeded hash is argon2id with small parameters (one pass over
/// 1 MiB instead of identity's 19 MiB, two passes): the hash names its own parameters, so
/// identity verifies it as usual, and signing benchmark students in stays quick. Sign-in cost is
/// not what the bench measures.
pub const PASSWORD: &str = "bench-student-2026";

/// The database a run's dataset lives in: `aula_bench`, or `aula_bench_t<N>` when the tenant
/// count is given.
pub fn database(options: &Options) -> String {
    match options.tenants {
        None => "aula_bench".to_owned(),
        Some(n) => format!("aula_bench_t{n}"),
    }
}

/// How many of everything a scale makes.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Tenants.
    pub tenants: u64,
    /// Courses per tenant.
    pub courses: u64,
    /// Students per tenant.
    pub students: u64,
    /// Enrollments per student.
    pub per_student: u64,
}

/// Instructors per tenant.
const INSTRUCTORS: u64 = 5;
/// Modules per course, and lessons per module.
const MODULES: u64 = 2;
const LESSONS: u64 = 5;

impl Shape {
    /// The dataset `options` describe.
    pub fn of(options: &Options) -> Shape {
        let n = |base: f64| (base * options.scale).round().max(1.0) as u64;
        let tenants = options.tenants.map_or(n(1_000.0), u64::from).max(1);
        let courses = (n(100_000.0) / tenants).max(1);
        let students = (n(200_000.0) / tenants).max(1);
        Shape {
            tenants,
            courses,
            students,
            per_student: 5.min(courses),
        }
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        let t = self.tenants;
        format!(
            "{t} tenants × {} courses × {} lessons, {} students, {} enrollments",
            self.courses,
            MODULES * LESSONS,
            t * self.students,
            t * self.students * self.per_student
        )
    }
}

/// The administrator URL of `database`.
pub async fn admin_url(database: &str) -> Result<String, String> {
    migration::url::with_database(&harness::admin_url().await, database)
}

/// The URL of `role` on `database`.
pub async fn role_url(role: &str, database: &str) -> Result<String, String> {
    migration::url::for_role(&harness::admin_url().await, role, database)
}

async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    Database::connect(url)
        .await
        .map_err(|e| format!("cannot connect: {e}"))
}

/// A seeded dataset.
#[derive(Clone, Debug)]
pub struct Seeded {
    /// What it holds.
    pub shape: Shape,
    /// Its database.
    pub database: String,
    /// Seconds it took, from creating the database to the end of `VACUUM` and a checkpoint.
    pub seconds: f64,
}

/// Creates and fills the database; returns what was seeded.
#[allow(
    clippy::print_stdout,
    reason = "printing figures is this command's job"
)]
pub async fn run(options: &Options) -> Result<Seeded, String> {
    let shape = Shape::of(options);
    let database = &database(options);
    let started = Instant::now();
    drop_database(database).await?;
    let admin = connect(&harness::admin_url().await).await?;
    roles::bootstrap(&admin).await.map_err(|e| e.to_string())?;
    roles::create_database(&admin, database)
        .await
        .map_err(|e| e.to_string())?;
    admin.close().await.ok();
    let owner = connect(&role_url(roles::OWNER, database).await?).await?;
    migration::migrate(&owner)
        .await
        .map_err(|e| e.to_string())?;
    let violations = migration::guard::check(&owner, &migration::guard::Scope::aula())
        .await
        .map_err(|e| e.to_string())?;
    owner.close().await.ok();
    if !violations.is_empty() {
        return Err(format!("isolation guard: {violations:?}"));
    }
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&admin_url(database).await?)
        .await
        .map_err(|e| e.to_string())?;
    fill(&pool, shape).await?;
    pool.execute_vacuum().await?;
    let seconds = started.elapsed().as_secs_f64();
    println!("seeded {database}: {} in {seconds:.1} s", shape.describe());
    Ok(Seeded {
        shape,
        database: database.clone(),
        seconds,
    })
}

/// Drops `database` (a dataset no longer needed).
pub async fn drop_database(database: &str) -> Result<(), String> {
    let admin = connect(&harness::admin_url().await).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await
        .map_err(|e| e.to_string())?;
    admin.close().await.ok();
    Ok(())
}

trait Vacuum {
    async fn execute_vacuum(&self) -> Result<(), String>;
}

impl Vacuum for PgPool {
    async fn execute_vacuum(&self) -> Result<(), String> {
        // Freezing sets every row's hint bits now, and the checkpoint writes the pages out, so
        // the first scenario does not pay for the bulk load's aftermath.
        for statement in ["VACUUM (FREEZE, ANALYZE)", "CHECKPOINT"] {
            sea_orm::sqlx::query(statement)
                .execute(self)
                .await
                .map_err(|e| format!("{statement}: {e}"))?;
        }
        Ok(())
    }
}

/// Streams rows into `table (columns)` with COPY (one transaction per table).
struct Copy {
    statement: String,
    buf: String,
    copy: PgCopyIn<PoolConnection<Postgres>>,
}

impl Copy {
    async fn new(pool: &PgPool, table: &str, columns: &str) -> Result<Copy, String> {
        let statement = format!("COPY {table} ({columns}) FROM STDIN");
        let copy = pool
            .copy_in_raw(&statement)
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
        Ok(Copy {
            statement,
            buf: String::with_capacity(1 << 20),
            copy,
        })
    }

    async fn row(&mut self, line: std::fmt::Arguments<'_>) -> Result<(), String> {
        self.buf.write_fmt(line).map_err(|e| e.to_string())?;
        self.buf.push('\n');
        if self.buf.len() >= 1 << 20 {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), String> {
        self.copy
            .send(self.buf.as_bytes())
            .await
            .map_err(|e| format!("{}: {e}", self.statement))?;
        self.buf.clear();
        Ok(())
    }

    async fn finish(mut self) -> Result<u64, String> {
        self.flush().await?;
        self.copy
            .finish()
            .await
            .map_err(|e| format!("{}: {e}", self.statement))
    }
}

/// Deterministic ids: the kind in the top bits, then tenant and index, so a tenant's rows sort
/// together (as UUIDv7 ids made around the same time would).
fn id(kind: u8, tenant: u64, n: u64) -> Uuid {
    Uuid::from_u128((u128::from(kind) << 120) | (u128::from(tenant) << 64) | u128::from(n))
}

/// Tenant `t`'s id.
pub fn tenant_id(t: u64) -> Uuid {
    id(1, t, 0)
}

/// Tenant `t`'s slug.
pub fn slug(t: u64) -> String {
    format!("bench-{t}")
}

/// Tenant `t`'s student `s`.
pub fn student_id(t: u64, s: u64) -> Uuid {
    id(3, t, s)
}

fn instructor_id(t: u64, i: u64) -> Uuid {
    id(2, t, i)
}

fn course_id(t: u64, c: u64) -> Uuid {
    id(4, t, c)
}

async fn fill(pool: &PgPool, shape: Shape) -> Result<(), String> {
    // One table at a time: each COPY commits before the tables that reference it.
    let mut copy = Copy::new(pool, "identity.tenants", "tenant_id, slug, name").await?;
    for t in 0..shape.tenants {
        copy.row(format_args!(
            "{}\t{}\tBench Academy {t}",
            tenant_id(t),
            slug(t)
        ))
        .await?;
    }
    copy.finish().await?;
    let mut copy = Copy::new(pool, "identity.tenant_directory", "name, kind, tenant_id").await?;
    for t in 0..shape.tenants {
        copy.row(format_args!("{}\tslug\t{}", slug(t), tenant_id(t)))
            .await?;
    }
    copy.finish().await?;

    let mut copy = Copy::new(
        pool,
        "identity.users",
        "tenant_id, id, email, display_name, roles",
    )
    .await?;
    for t in 0..shape.tenants {
        let tid = tenant_id(t);
        for i in 0..INSTRUCTORS {
            let uid = instructor_id(t, i);
            copy.row(format_args!(
                "{tid}\t{uid}\tteacher{i}@t{t}.bench\tTeacher {i} of {t}\t{{instructor}}"
            ))
            .await?;
        }
        for s in 0..shape.students {
            let uid = student_id(t, s);
            copy.row(format_args!(
                "{tid}\t{uid}\t{}\tStudent {s} of {t}\t{{student}}",
                student_email(t, s)
            ))
            .await?;
        }
    }
    copy.finish().await?;

    let hash = password_hash()?;
    let mut copy = Copy::new(pool, "identity.passwords", "tenant_id, user_id, hash").await?;
    for t in 0..shape.tenants {
        let tid = tenant_id(t);
        for s in 0..shape.students {
            copy.row(format_args!("{tid}\t{}\t{hash}", student_id(t, s)))
                .await?;
        }
    }
    copy.finish().await?;

    let mut copy = Copy::new(
        pool,
        "learning.courses",
        "tenant_id, id, slug, title, summary, description, tags, price_cents, currency, status, \
         instructor_ids, published_at",
    )
    .await?;
    for t in 0..shape.tenants {
        let tid = tenant_id(t);
        for c in 0..shape.courses {
            let (status, published) = if c % 10 == 9 {
                ("draft", "\\N")
            } else {
                ("published", "2026-01-01 00:00:00+00")
            };
            copy.row(format_args!(
                "{tid}\t{}\tcourse-{c}\tCourse {c}: {}\tA course about topic {c}\t\
                 Longer description of topic {c} for tenant {t}\t{{bench,topic{}}}\t{}\tEUR\t\
                 {status}\t{{{},{}}}\t{published}",
                course_id(t, c),
                TOPICS[(c as usize) % TOPICS.len()],
                c % 7,
                (c % 3) * 1900,
                instructor_id(t, c % INSTRUCTORS),
                instructor_id(t, (c + 1) % INSTRUCTORS),
            ))
            .await?;
        }
    }
    copy.finish().await?;

    let mut copy = Copy::new(
        pool,
        "learning.modules",
        "tenant_id, id, course_id, position, title",
    )
    .await?;
    for t in 0..shape.tenants {
        for c in 0..shape.courses {
            for m in 0..MODULES {
                copy.row(format_args!(
                    "{}\t{}\t{}\t{m}\tModule {m}",
                    tenant_id(t),
                    module_id(t, c, m),
                    course_id(t, c)
                ))
                .await?;
            }
        }
    }
    copy.finish().await?;

    let mut copy = Copy::new(
        pool,
        "learning.lessons",
        "tenant_id, id, course_id, module_id, position, title, kind, body, free_preview, \
         duration_minutes",
    )
    .await?;
    for t in 0..shape.tenants {
        for c in 0..shape.courses {
            for m in 0..MODULES {
                for l in 0..LESSONS {
                    let lesson = id(6, t, (c * MODULES + m) * LESSONS + l);
                    copy.row(format_args!(
                        "{}\t{lesson}\t{}\t{}\t{l}\tLesson {l}\ttext\tThe text of lesson {l}.\t{}\t10",
                        tenant_id(t),
                        course_id(t, c),
                        module_id(t, c, m),
                        m == 0 && l == 0,
                    ))
                    .await?;
                }
            }
        }
    }
    copy.finish().await?;

    let mut copy = Copy::new(
        pool,
        "learning.enrollments",
        "tenant_id, id, course_id, student_id, status, source, activated_at",
    )
    .await?;
    for t in 0..shape.tenants {
        for s in 0..shape.students {
            for k in 0..shape.per_student {
                copy.row(format_args!(
                    "{}\t{}\t{}\t{}\tactive\tfree\t2026-01-02 00:00:00+00",
                    tenant_id(t),
                    id(7, t, s * shape.per_student + k),
                    course_id(t, (s + k) % shape.courses),
                    student_id(t, s),
                ))
                .await?;
            }
        }
    }
    copy.finish().await?;
    Ok(())
}

/// The argon2id hash of [`PASSWORD`] every student gets.
fn password_hash() -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(1024, 1, 1, None).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"aula-bench-salt!").map_err(|e| e.to_string())?;
    argon
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Tenant `t`'s student `s`'s email address.
pub fn student_email(t: u64, s: u64) -> String {
    format!("student{s}@t{t}.bench")
}

fn module_id(t: u64, c: u64, m: u64) -> Uuid {
    id(5, t, c * MODULES + m)
}

const TOPICS: [&str; 8] = [
    "Rust for teachers",
    "Algebra basics",
    "Bayesian beekeeping",
    "Spanish for travel",
    "Watercolour painting",
    "Data engineering",
    "Public speaking",
    "Music theory",
];
