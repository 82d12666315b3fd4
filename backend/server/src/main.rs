//! The `errorwatch` binary: one executable, a role per subcommand (`serve`, `worker`,
//! `migrate`, and admin commands). Errors end the process with one line on stderr and a
//! non-zero exit code, never a panic trace.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    one_glibc_arena();
    // mimalloc asks for transparent huge pages on its arenas; with THP on, every partly used
    // 2 MiB region counts whole in the RSS (measured under the ingest bench: 233 MiB peak with
    // THP, 90 MiB without, same throughput). Failing only loses that saving.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let cli = errorwatch_server::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("errorwatch: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(errorwatch_server::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("errorwatch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Rust code allocates with mimalloc, but the C libraries (SQLite, zstd) call glibc's malloc,
/// which gives each thread that allocates an arena of its own: with a dozen SQLite connection
/// threads, the SQLite ingest bench peaked at 171 MiB RSS (145 anonymous), 135 MiB with one
/// arena (glibc's per-thread caches still serve small blocks without the arena's lock). glibc
/// reads the limit only at process start, so the process runs itself again once with
/// `MALLOC_ARENA_MAX=1`, unless the variable is set already (an operator's choice wins).
fn one_glibc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        use std::os::unix::process::CommandExt;
        // Only returns if the exec failed (e.g. the binary was replaced on disk): carry on with
        // glibc's defaults.
        let _ = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", "1")
            .exec();
    }
}
