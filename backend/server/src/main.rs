//! The `errorwatch` binary: one executable, a role per subcommand (`serve`, `worker`,
//! `migrate`, and admin commands). Errors end the process with one line on stderr and a
//! non-zero exit code, never a panic trace.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    allocator_settings();
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

/// Allocator settings that glibc and mimalloc read only at process start; the process runs
/// itself again once with them, unless each is set already (an operator's choice wins):
/// - `MALLOC_ARENA_MAX=1`: Rust code allocates with mimalloc, but the C libraries (SQLite,
///   zstd) call glibc's malloc, which gives each thread that allocates an arena of its own:
///   with a dozen SQLite connection threads, the SQLite ingest bench peaked at 171 MiB RSS
///   (145 anonymous), 135 MiB with one arena (glibc's per-thread caches still serve small
///   blocks without the arena's lock).
/// - `MIMALLOC_PURGE_DELAY=0`: mimalloc hands freed pages back to the OS at once instead of
///   after 10 ms; under a burst the delayed pages piled up (the overload bench's mimalloc
///   memory at its peak 83 → 65–69 MiB, the plain bench's peak 136 → 120 MiB, throughput the
///   same within the machine's noise).
fn allocator_settings() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const SETTINGS: [(&str, &str); 2] =
            [("MALLOC_ARENA_MAX", "1"), ("MIMALLOC_PURGE_DELAY", "0")];
        let missing: Vec<_> = SETTINGS
            .iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .collect();
        if !missing.is_empty()
            && let Ok(exe) = std::env::current_exe()
        {
            use std::os::unix::process::CommandExt;
            let mut command = std::process::Command::new(exe);
            command.args(std::env::args_os().skip(1));
            for (name, value) in missing {
                command.env(name, value);
            }
            // Only returns if the exec failed (e.g. the binary was replaced on disk): carry on
            // with the defaults.
            let _ = command.exec();
        }
    }
}
