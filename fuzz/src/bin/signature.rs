//! AFL++ entry point of the `signature` target (see `chorus_fuzz_targets::signature`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::signature(data));
}
