//! AFL++ entry point of the `consensus` target (see `chorus_fuzz_targets::net::consensus`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::net::consensus(data));
}
