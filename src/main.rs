use std::process::ExitCode;

use clap::Parser;

// glibc's allocator spends a fifth of a query's time on the Parquet reader's short-lived buffers.
// mimalloc is built without transparent huge pages (Cargo feature `no_thp`): each fresh 2 MiB page
// is zeroed whole on first touch, which made the first query of a process twice as slow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ctidx::cli::Cli::parse();
    match ctidx::run(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            if ctidx::printer::is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            ctidx::printer::print_error(&error);
            ctidx::ExitStatus::Error.into()
        }
    }
}
