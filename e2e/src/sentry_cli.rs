//! The real sentry-cli, `@sentry/cli` from npm, unmodified: `infra/install-e2e-sdks.sh` installs
//! its last 2.x and its newest 3.x under the npm aliases `sentry-cli-2` and `sentry-cli-3` in
//! `e2e_sdk_dir()/sentry-cli`. The binary comes from npm's platform package
//! (`@sentry/cli-linux-x64`, an optional dependency), found the way the package's own
//! `bin/sentry-cli` finds it.
//!
//! Commands run with exactly the environment they are given (plus `PATH`, `HOME` = their folder
//! so no `~/.sentryclirc` of the machine's user applies, and no update check), and are killed
//! when they run over [`COMMAND_TIMEOUT`]. `SENTRY_LOG_LEVEL` is passed on, for debugging.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{e2e_sdk_dir, require_sdk};

/// How long one command may take (each takes well under a second against a local server).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One installed sentry-cli.
#[derive(Clone, Debug)]
pub struct Cli {
    /// Its major version (2 or 3).
    pub major: u8,
    /// The native binary.
    pub bin: PathBuf,
    /// What `--version` prints, e.g. `sentry-cli 2.58.6`.
    pub version: String,
}

/// The sentry-cli of npm alias `sentry-cli-{major}`; panics with the install hint when it is
/// missing or of another major.
pub fn find(major: u8) -> Cli {
    let what = format!("sentry-cli {major}.x (npm @sentry/cli as sentry-cli-{major})");
    let helper = e2e_sdk_dir().join(format!(
        "sentry-cli/node_modules/sentry-cli-{major}/js/helper.js"
    ));
    let resolve = || {
        let mut command = Command::new("node");
        command
            .arg("-e")
            .arg("process.stdout.write(require(process.argv[1]).getPath())")
            .arg(&helper);
        command
    };
    require_sdk(&what, &mut resolve());
    let bin = PathBuf::from(
        String::from_utf8(resolve().output().expect("run node").stdout).expect("a UTF-8 path"),
    );
    require_sdk(&what, Command::new(&bin).arg("--version"));
    let output = Command::new(&bin)
        .arg("--version")
        .output()
        .expect("sentry-cli --version");
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        version.starts_with(&format!("sentry-cli {major}.")),
        "{} is {version:?}, not {what}: run infra/install-e2e-sdks.sh",
        bin.display()
    );
    Cli {
        major,
        bin,
        version,
    }
}

/// What a command did.
#[derive(Clone, Debug)]
pub struct Run {
    /// It exited 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `cli args…` in `dir` (which must exist) with `env` (`SENTRY_URL`, `SENTRY_AUTH_TOKEN`,
/// `SENTRY_ORG`, `SENTRY_PROJECT`, …); logs the command, its exit status and duration to stderr.
/// Panics when it runs over [`COMMAND_TIMEOUT`] (the process is killed).
pub async fn run(cli: &Cli, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(&cli.bin);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SENTRY_DISABLE_UPDATE_CHECK", "true")
        .env("SENTRY_NO_PROGRESS_BAR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(level) = std::env::var_os("SENTRY_LOG_LEVEL") {
        command.env("SENTRY_LOG_LEVEL", level);
    }
    let started = Instant::now();
    let child = command.spawn().expect("spawn sentry-cli");
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} ran over {COMMAND_TIMEOUT:?}", cli.version))
        .expect("wait for sentry-cli");
    eprintln!(
        "[{}] {} → {} in {} ms",
        cli.version,
        args.join(" "),
        output.status,
        started.elapsed().as_millis()
    );
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
