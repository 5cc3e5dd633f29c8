//! AFL++ entry point of the `store_request` target (see `chorus_fuzz_targets::store_request`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::store_request(data));
}
