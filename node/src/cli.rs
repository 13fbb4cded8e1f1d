//! Command line: `sc-cli`'s run options and subcommands.

use polkadot_sdk::sc_cli;

/// The node's command line.
#[derive(Debug, clap::Parser)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[command(flatten)]
	pub run: sc_cli::RunCmd,
}

/// The subcommands; without one, the node runs.
#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
	/// Key management: generate, inspect, insert into a keystore.
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Write a chain spec (plain or `--raw`) to stdout.
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Validate and import one block.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks to a file.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state at a block as a raw chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks from a file.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Delete the whole chain database.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain by some number of blocks (not past the last finalized one).
	Revert(sc_cli::RevertCmd),

	/// Runtime benchmarks (this build has the `benchmark-cli` feature).
	#[cfg(feature = "benchmark-cli")]
	#[command(subcommand)]
	Benchmark(BenchmarkCmd),
}

/// The benchmarks this node runs: the pallets' (`scripts/weights.sh` drives it).
#[cfg(feature = "benchmark-cli")]
#[derive(Debug, clap::Subcommand)]
pub enum BenchmarkCmd {
	/// Run the pallets' benchmarks in the runtime's Wasm and write their weights.
	// Boxed: its options are most of the command line's size (clippy's large_enum_variant).
	Pallet(Box<polkadot_sdk::frame_benchmarking_cli::PalletCmd>),
}
