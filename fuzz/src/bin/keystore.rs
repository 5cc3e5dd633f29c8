//! AFL++ entry point of the `keystore` target (see `chorus_fuzz_targets::keystore`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::keystore(data));
}
