//! chorus-cli: the `chorus` command line (clap). Wiring only; business rules live in lower crates.

/// Parses the command line and runs the chosen command.
pub fn run() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
