//! AFL++ entry point of the `proposal_stream` target (see `chorus_fuzz_targets::net::proposal_stream`).

fn main() {
    afl::fuzz!(|data: &[u8]| chorus_fuzz_targets::net::proposal_stream(data));
}
