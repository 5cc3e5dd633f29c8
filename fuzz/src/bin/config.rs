//! AFL++ entry point of the `config` target (see `chorus_fuzz_targets::net::config`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::net::config(data));
}
