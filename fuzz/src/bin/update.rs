//! AFL++ entry point of the `update` target (see `chorus_fuzz_targets::update`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::update(data));
}
