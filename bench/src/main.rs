//! Benchmarks of the MaskGate server (see bench/RESULTS.md).

fn main() {}
