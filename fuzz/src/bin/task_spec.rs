//! AFL++ entry point of the `task_spec` target (see `chorus_fuzz_targets::task_spec`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::task_spec(data));
}
