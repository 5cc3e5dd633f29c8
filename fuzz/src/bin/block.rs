//! AFL++ entry point of the `block` target (see `chorus_fuzz_targets::block`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::block(data));
}
