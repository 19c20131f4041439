use std::process::ExitCode;

use clap::Parser;

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
