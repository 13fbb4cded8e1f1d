//! What each command line does.

use crate::{
	chain_spec,
	cli::{Cli, Subcommand},
	service,
};
use ccnet_runtime::opaque::Block;
use polkadot_sdk::{
	sc_cli::{self, SubstrateCli},
	sc_network::config::NetworkBackendType,
	sc_service::{ChainSpec, PartialComponents},
	sp_runtime::traits::Block as BlockT,
	*,
};
use std::sync::Arc;

impl SubstrateCli for Cli {
	fn impl_name() -> String {
		"Compute Currency node".into()
	}

	fn impl_version() -> String {
		env!("CARGO_PKG_VERSION").into()
	}

	fn description() -> String {
		env!("CARGO_PKG_DESCRIPTION").into()
	}

	fn author() -> String {
		env!("CARGO_PKG_AUTHORS").into()
	}

	fn support_url() -> String {
		env!("CARGO_PKG_REPOSITORY").into()
	}

	fn copyright_start_year() -> i32 {
		2025
	}

	/// `dev` (also `--dev`), `local` (also no `--chain`), or a chain spec file.
	fn load_spec(&self, id: &str) -> Result<Box<dyn ChainSpec>, String> {
		Ok(match id {
			"dev" => Box::new(chain_spec::development()?),
			"" | "local" => Box::new(chain_spec::local_testnet()?),
			path => Box::new(chain_spec::ChainSpec::from_json_file(path.into())?),
		})
	}
}

/// Parse the command line and run it.
pub fn run() -> sc_cli::Result<()> {
	let cli = Cli::from_args();

	match &cli.subcommand {
		Some(Subcommand::Key(cmd)) => cmd.run(&cli),
		Some(Subcommand::BuildSpec(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.chain_spec, config.network))
		},
		Some(Subcommand::CheckBlock(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents {
					client,
					task_manager,
					import_queue,
					..
				} = service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		},
		Some(Subcommand::ExportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents {
					client, task_manager, ..
				} = service::new_partial(&config)?;
				Ok((cmd.run(client, config.database), task_manager))
			})
		},
		Some(Subcommand::ExportState(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents {
					client, task_manager, ..
				} = service::new_partial(&config)?;
				Ok((cmd.run(client, config.chain_spec), task_manager))
			})
		},
		Some(Subcommand::ImportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents {
					client,
					task_manager,
					import_queue,
					..
				} = service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		},
		Some(Subcommand::PurgeChain(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.database))
		},
		Some(Subcommand::Revert(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents {
					client,
					task_manager,
					backend,
					..
				} = service::new_partial(&config)?;
				// GRANDPA keeps its authority set changes in the database's aux storage.
				type AuxRevert = Box<
					dyn FnOnce(
						Arc<service::FullClient>,
						Arc<service::FullBackend>,
						ccnet_runtime::BlockNumber,
					) -> sc_cli::Result<()>,
				>;
				let aux_revert: AuxRevert = Box::new(|client, _, blocks| {
					sc_consensus_grandpa::revert(client, blocks)?;
					Ok(())
				});
				Ok((cmd.run(client, backend, Some(aux_revert)), task_manager))
			})
		},
		#[cfg(feature = "benchmark-cli")]
		Some(Subcommand::Benchmark(crate::cli::BenchmarkCmd::Pallet(cmd))) => {
			// With `--runtime`, the benchmarks run in that Wasm from its own genesis preset
			// (scripts/weights.sh): no chain spec, so no runner, which would load one.
			if cmd.runtime.is_some() {
				sc_cli::LoggerBuilder::new("").init()?;
				return cmd.run_with_spec::<sp_runtime::traits::HashingFor<Block>, ()>(None);
			}
			let runner = cli.create_runner(&**cmd)?;
			runner.sync_run(|config| {
				cmd.run_with_spec::<sp_runtime::traits::HashingFor<Block>, ()>(Some(config.chain_spec))
			})
		},
		None => {
			let runner = cli.create_runner(&cli.run)?;
			runner.run_node_until_exit(|config| async move {
				match config.network.network_backend {
					NetworkBackendType::Libp2p => {
						service::new_full::<sc_network::NetworkWorker<Block, <Block as BlockT>::Hash>>(config)
					},
					NetworkBackendType::Litep2p => service::new_full::<sc_network::Litep2pNetworkBackend>(config),
				}
				.map_err(sc_cli::Error::Service)
			})
		},
	}
}
