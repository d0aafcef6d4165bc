//! The test harness every Aula crate's integration tests use: real PostgreSQL (a fresh database
//! per test, cloned from a migrated template), real Redis, servers on loopback ports, a real
//! OpenID provider for single sign-on ([`oidc`]), an S3-compatible server ([`TestS3`]), a
//! Meilisearch double recording what it is sent ([`meili`]), and tenants, users and signed tokens.
//!
//! It uses the servers already running on the machine when they answer (or the ones named by
//! `AULA_TEST_DATABASE_URL` / `AULA_TEST_REDIS_URL`), otherwise it starts its own from the
//! machine's binaries, shared by every test process of the run.

mod db;
pub mod meili;
pub mod oidc;
mod redis;
mod s3;
mod server;
mod tokens;

pub use db::{TestDb, admin_url};
pub use redis::redis_url;
pub use s3::{BUCKET, TestS3};
pub use server::{TestServer, gql, gql_with, spawn, spawn_built, spawn_subgraph, subgraph_config};
pub use tokens::{Keys, TestUser};

/// The directory where shared test servers keep their state (per user, outside the checkout so
/// the `postgres` system user can reach it).
pub fn state_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("aula-harness");
    let _ = std::fs::create_dir_all(&dir);
    dir
}
