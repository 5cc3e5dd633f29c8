//! AFL++ entry point of the `store_blob` target (see `chorus_fuzz_targets::store_blob`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::store_blob(data));
}
