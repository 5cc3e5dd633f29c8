//! AFL++ entry point of the `tx` target (see `chorus_fuzz_targets::tx`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::tx(data));
}
