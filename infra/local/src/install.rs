//! Installing missing server packages with apt, or explaining exactly how to.

use std::process::Command;

use crate::util::{is_root, run};
use crate::{Error, Result};

/// Whether installing with apt is allowed (`AULA_DEV_NO_INSTALL=1` forbids it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Install {
    /// Run `apt-get install` when root and apt is present.
    IfMissing,
    /// Never install; report what is missing.
    Never,
}

impl Install {
    /// From the environment: `AULA_DEV_NO_INSTALL=1` means [`Install::Never`].
    pub fn from_env() -> Self {
        match std::env::var("AULA_DEV_NO_INSTALL").as_deref() {
            Ok("1") | Ok("true") => Install::Never,
            _ => Install::IfMissing,
        }
    }
}

/// Makes sure `found()` holds, installing Debian package `package` when it does not.
pub fn ensure_installed(
    program: &str,
    package: &str,
    policy: Install,
    found: impl Fn() -> bool,
) -> Result<()> {
    if found() {
        return Ok(());
    }
    let hint = format!("install it with `sudo apt-get install -y {package}` and run again");
    let apt_present = std::path::Path::new("/usr/bin/apt-get").exists();
    if policy == Install::Never || !is_root() || !apt_present {
        return Err(Error::Missing {
            program: program.to_owned(),
            hint,
        });
    }
    tracing::info!(package, "installing with apt-get");
    eprintln!("aula: {program} is missing; installing Debian package {package} with apt-get ...");
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if found() {
        Ok(())
    } else {
        Err(Error::Missing {
            program: program.to_owned(),
            hint,
        })
    }
}
