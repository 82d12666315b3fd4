//! The `errorwatch` binary: one executable, a role per subcommand (`serve`, `worker`,
//! `migrate`, and admin commands). Errors end the process with one line on stderr and a
//! non-zero exit code, never a panic trace.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
