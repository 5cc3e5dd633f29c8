//! AFL++ entry point of the `model` target (see `chorus_fuzz_targets::model`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::model(data));
}
