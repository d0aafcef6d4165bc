//! Building sibling binaries from inside `cargo run`: a program that needs other binaries of the
//! workspace (the launcher needs the gateway, the bench needs the services and the gateway)
//! asks the cargo that started it to build them in its own profile, so they land beside it.

use std::path::Path;

/// Runs `cargo build --quiet <args>` for `manifest` with the cargo that started this program
/// (`$CARGO`, which `cargo run` sets), in `exe`'s profile (`--release` when `exe` sits in a
/// `release` folder). Does nothing when the program was not started by cargo; the caller then
/// checks that what it needs is there.
///
/// The build runs without the `CARGO_PKG_*` and `CARGO_MANIFEST_*` variables `cargo run` gave
/// this program: some build scripts (ring's, which rustls and everything above it use) ask to
/// be rerun when `CARGO_PKG_NAME` changes, so with them the same dependencies would be rebuilt
/// here and again by the next `cargo build` from a shell, every time.
pub fn build_beside(exe: &Path, manifest: &Path, args: &[&str]) -> Result<(), String> {
    let Ok(cargo) = std::env::var("CARGO") else {
        return Ok(());
    };
    let mut build = std::process::Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("CARGO_PKG_") || name_text.starts_with("CARGO_MANIFEST_") {
            build.env_remove(&name);
        }
    }
    build
        .args(["build", "--quiet"])
        .args(args)
        .arg("--manifest-path")
        .arg(manifest);
    if exe.parent().and_then(Path::file_name) == Some("release".as_ref()) {
        build.arg("--release");
    }
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build {}` failed (see above)",
            args.join(" ")
        ))
    }
}
