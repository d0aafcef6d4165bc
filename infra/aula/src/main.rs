//! The `aula` command: one service per process in production (`aula identity`), schema export
//! (`aula sdl identity`), migrations (`aula migrate`), and, with no arguments, the whole
//! platform on one machine for a newcomer (`cargo run`).
#![allow(
    clippy::print_stdout,
    reason = "a command-line program talks on stdout"
)]

mod compose;
mod dev;
mod services;

use std::process::ExitCode;

/// mimalloc, as in the gateway: a request allocates many small, short-lived values (GraphQL
/// values, JSON, rows) across worker threads, and glibc's allocator took about a fifth of the
/// learning subgraph's CPU in the catalog benchmark (`cargo run -p bench --release`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage: aula [COMMAND]

  (no command) | dev   run the whole platform locally: PostgreSQL and Redis (started from the
                       machine's binaries unless DATABASE_URL / REDIS_URL are set), migrations,
                       a seeded demo tenant, every subgraph; prints the URLs. Ctrl-C stops it all.
  <service>            run one service in this process, configured by AULA_* variables and an
                       optional TOML file named by AULA_CONFIG (services: identity)
  sdl <service>        print the service's federated GraphQL SDL (no server, no database)
  compose [--check] [--dir <gateway dir>]
                       export every subgraph's SDL into gateway/schemas/ and compose
                       gateway/supergraph.graphql (Node.js); --check fails instead of writing
                       when the checked-in files are stale or composition fails
  migrate              create the roles and the database `aula` (DATABASE_URL: an
                       administrator URL) and apply every migration
  help                 this text
";

fn compose_command(args: &[String]) -> Result<(), String> {
    let mut mode = compose::Mode::Write;
    let mut dir = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--check" => mode = compose::Mode::Check,
            "--dir" => dir = Some(rest.next().ok_or("--dir needs a folder")?.as_str()),
            other => return Err(format!("compose: unknown argument {other:?}")),
        }
    }
    for line in compose::run(mode, dir)? {
        println!("{line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aula: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = match args.first().map(String::as_str) {
        None | Some("dev") => runtime.block_on(dev::run()),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some("sdl") => match args.get(1).and_then(|s| services::sdl(s)) {
            Some(sdl) => {
                print!("{sdl}");
                Ok(())
            }
            None => Err(format!(
                "sdl needs a service name; known: {}",
                services::NAMES.join(", ")
            )),
        },
        Some("compose") => compose_command(&args[1..]),
        Some("migrate") => runtime.block_on(dev::migrate_from_env()),
        Some(name) if services::NAMES.contains(&name) => runtime.block_on(services::serve(name)),
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("aula: {message}");
            ExitCode::FAILURE
        }
    }
}
