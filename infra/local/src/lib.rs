//! Local PostgreSQL and Redis servers started from the machine's own binaries (installed with
//! apt when missing and allowed) and an in-process S3-compatible server, all on loopback only,
//! supergraph composition with the machine's Node.js, and building sibling binaries from inside
//! `cargo run`. Used by the `aula` launcher for a newcomer's platform, by the test harness when
//! no server is already running, and by the bench.

pub mod cargo;
pub mod compose;
mod install;
mod postgres;
mod redis;
mod s3;
mod util;

pub use install::{Install, ensure_installed};
pub use postgres::PostgresCluster;
pub use redis::{RedisServer, ping as redis_ping};
pub use s3::S3Server;
pub use util::{free_port, is_root, wait_for_port};

/// Why a local server could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required program is missing and could not be installed.
    #[error("{program} is not installed: {hint}")]
    Missing {
        /// The program looked for.
        program: String,
        /// What the user should do.
        hint: String,
    },
    /// The `postgres` system user cannot reach the data folder.
    #[error(
        "the postgres system user cannot reach {}: a parent folder is private (for example a 0700 \
         home); set AULA_DEV_DATA_DIR to a folder such as /var/lib/aula and run again",
        .0.display()
    )]
    Unreachable(std::path::PathBuf),
    /// A command ran and failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// Its combined output (tail).
        output: String,
    },
    /// The server did not come up in time.
    #[error("{0} did not become ready in time")]
    Timeout(String),
    /// Filesystem or process error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, Error>;
