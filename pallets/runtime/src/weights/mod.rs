//! Weights of the FRAME pallets this runtime benchmarks itself (`scripts/weights.sh`);
//! the ccnet pallets keep theirs in their own crates.

pub mod frame_system;
