//! `ccnet-node`: the Compute Currency validator node.
//!
//! Aura block production, GRANDPA finality, JSON-RPC (Substrate's `system`, `author`,
//! `chain`, `state`, plus GRANDPA's, transaction payment's and the account nonce) and the
//! usual `sc-cli` subcommands, for the ccnet runtime (`pallets/runtime`). The database
//! is ParityDB only (no RocksDB in this build).

// `sc_cli::Error` and `sc_service::Error` are polkadot-sdk's (176 bytes and more), and the
// `sc_cli::Runner` closures must return them: boxing them here would only add copies.
#![allow(clippy::result_large_err)]

mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;

fn main() -> polkadot_sdk::sc_cli::Result<()> {
	command::run()
}
