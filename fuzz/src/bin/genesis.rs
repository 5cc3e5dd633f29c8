//! AFL++ entry point of the `genesis` target (see `chorus_fuzz_targets::genesis`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::genesis(data));
}
