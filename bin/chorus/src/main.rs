//! The `chorus` binary. All behaviour lives in `chorus-cli`; this file only hands over control.

/// Counts heap growth only while `chorus bench aggregate` measures peak memory (one relaxed atomic
/// load per allocation otherwise).
#[global_allocator]
static ALLOC: chorus_cli::PeakAlloc = chorus_cli::PeakAlloc;

fn main() -> std::process::ExitCode {
    chorus_cli::run()
}
