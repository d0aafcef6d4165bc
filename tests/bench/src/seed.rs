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

/// The benchmark database.
pub const DATABASE: &str = "aula_bench";

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

/// The administrator URL of the benchmark database.
pub async fn admin_url() -> Result<String, String> {
    migration::url::with_database(&harness::admin_url().await, DATABASE)
}

/// The URL of `role` on the benchmark database.
pub async fn role_url(role: &str) -> Result<String, String> {
    migration::url::for_role(&harness::admin_url().await, role, DATABASE)
}

async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    Database::connect(url)
        .await
        .map_err(|e| format!("cannot connect: {e}"))
}

/// Creates and fills the database; returns the shape seeded.
#[allow(
    clippy::print_stdout,
    reason = "printing figures is this command's job"
)]
pub async fn run(options: &Options) -> Result<Shape, String> {
    let shape = Shape::of(options);
    let started = Instant::now();
    let server = harness::admin_url().await;
    let admin = connect(&server).await?;
    roles::bootstrap(&admin).await.map_err(|e| e.to_string())?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .await
        .map_err(|e| e.to_string())?;
    roles::create_database(&admin, DATABASE)
        .await
        .map_err(|e| e.to_string())?;
    admin.close().await.ok();
    let owner = connect(&role_url(roles::OWNER).await?).await?;
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
        .connect(&admin_url().await?)
        .await
        .map_err(|e| e.to_string())?;
    fill(&pool, shape).await?;
    pool.execute_vacuum().await?;
    println!(
        "seeded {} in {:.1} s",
        shape.describe(),
        started.elapsed().as_secs_f64()
    );
    Ok(shape)
}

trait Vacuum {
    async fn execute_vacuum(&self) -> Result<(), String>;
}

impl Vacuum for PgPool {
    async fn execute_vacuum(&self) -> Result<(), String> {
        sea_orm::sqlx::query("VACUUM ANALYZE")
            .execute(self)
            .await
            .map(|_| ())
            .map_err(|e| format!("VACUUM ANALYZE: {e}"))
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
                "{tid}\t{uid}\tstudent{s}@t{t}.bench\tStudent {s} of {t}\t{{student}}"
            ))
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
