//! The `chorus` binary. All behaviour lives in `chorus-cli`; this file only hands over control.

fn main() -> std::process::ExitCode {
    chorus_cli::run()
}
