//! The node's service: client and database, import queue, network, Aura authoring,
//! the GRANDPA voter and the RPC server.

use ccnet_runtime::{apis::RuntimeApi, opaque::Block};
use polkadot_sdk::{
	sc_consensus_aura::{ImportQueueParams, SlotProportion, StartAuraParams},
	sc_consensus_grandpa::{self as grandpa, SharedVoterState},
	sc_network::NetworkBackend,
	sc_rpc::SubscriptionTaskExecutor,
	sc_service::{self, error::Error as ServiceError, Configuration, PartialComponents, TaskManager, WarpSyncConfig},
	sc_telemetry::{Telemetry, TelemetryWorker},
	sc_transaction_pool_api::OffchainTransactionPoolFactory,
	sp_consensus_aura::sr25519::AuthorityPair as AuraPair,
	sp_runtime::traits::Block as BlockT,
	*,
};
use std::{sync::Arc, time::Duration};

/// Host functions of the runtime: Substrate's, and benchmarking's when the runtime
/// carries its benchmarks.
#[cfg(not(feature = "runtime-benchmarks"))]
pub type HostFunctions = sp_io::SubstrateHostFunctions;
#[cfg(feature = "runtime-benchmarks")]
pub type HostFunctions = (
	sp_io::SubstrateHostFunctions,
	frame_benchmarking::benchmarking::HostFunctions,
);

pub type FullClient = sc_service::TFullClient<Block, RuntimeApi, sc_executor::WasmExecutor<HostFunctions>>;
pub type FullBackend = sc_service::TFullBackend<Block>;
type FullSelectChain = sc_consensus::LongestChain<FullBackend, Block>;
type GrandpaBlockImport = grandpa::GrandpaBlockImport<FullBackend, Block, FullClient, FullSelectChain>;
type GrandpaLinkHalf = grandpa::LinkHalf<Block, FullClient, FullSelectChain>;
pub type TransactionPool = sc_transaction_pool::TransactionPoolHandle<Block, FullClient>;

/// GRANDPA writes a justification at least every this many blocks (besides those at
/// authority set changes), so a syncing node can check finality without replaying votes.
const GRANDPA_JUSTIFICATION_PERIOD: u32 = 512;

/// The parts that the node and the chain subcommands (check, import, export, revert) share.
pub type Service = PartialComponents<
	FullClient,
	FullBackend,
	FullSelectChain,
	sc_consensus::DefaultImportQueue<Block>,
	TransactionPool,
	(GrandpaBlockImport, GrandpaLinkHalf, Option<Telemetry>),
>;

/// Aura's inherents for a block: the time now, and the slot it falls in.
fn aura_inherents(
	slot_duration: sp_consensus_aura::SlotDuration,
) -> (
	sp_consensus_aura::inherents::InherentDataProvider,
	sp_timestamp::InherentDataProvider,
) {
	let timestamp = sp_timestamp::InherentDataProvider::from_system_time();
	let slot =
		sp_consensus_aura::inherents::InherentDataProvider::from_timestamp_and_slot_duration(*timestamp, slot_duration);
	(slot, timestamp)
}

/// The runtime executor of `sc_service::new_wasm_executor`, plus a disk cache of the
/// compiled runtime under the chain's data directory (`<base>/chains/<id>/wasm-cache`):
/// compiling the runtime takes minutes in a debug build, so restarts reuse it.
fn wasm_executor(config: &Configuration) -> sc_executor::WasmExecutor<HostFunctions> {
	use sc_executor::{HeapAllocStrategy, DEFAULT_HEAP_ALLOC_STRATEGY};
	let executor = &config.executor;
	let heap = executor
		.default_heap_pages
		.map_or(DEFAULT_HEAP_ALLOC_STRATEGY, |pages| HeapAllocStrategy::Static {
			extra_pages: pages as _,
		});
	sc_executor::WasmExecutor::<HostFunctions>::builder()
		.with_execution_method(executor.wasm_method)
		.with_onchain_heap_alloc_strategy(heap)
		.with_offchain_heap_alloc_strategy(heap)
		.with_max_runtime_instances(executor.max_runtime_instances)
		.with_runtime_cache_size(executor.runtime_cache_size)
		.with_cache_path(config.data_path.join("wasm-cache"))
		.build()
}

/// Client, database, transaction pool and the Aura import queue behind GRANDPA's block import.
pub fn new_partial(config: &Configuration) -> Result<Service, ServiceError> {
	let telemetry = config
		.telemetry_endpoints
		.clone()
		.filter(|endpoints| !endpoints.is_empty())
		.map(|endpoints| -> Result<_, sc_telemetry::Error> {
			let worker = TelemetryWorker::new(16)?;
			let telemetry = worker.handle().new_telemetry(endpoints);
			Ok((worker, telemetry))
		})
		.transpose()?;

	let executor = wasm_executor(config);
	// Keep the blocks that carry GRANDPA justifications when pruning: warp sync needs them.
	let (client, backend, keystore_container, task_manager) = sc_service::new_full_parts::<Block, RuntimeApi, _>(
		config,
		telemetry.as_ref().map(|(_, telemetry)| telemetry.handle()),
		executor,
		vec![Arc::new(grandpa::GrandpaPruningFilter)],
	)?;
	let client = Arc::new(client);

	let telemetry = telemetry.map(|(worker, telemetry)| {
		task_manager.spawn_handle().spawn("telemetry", None, worker.run());
		telemetry
	});

	let select_chain = sc_consensus::LongestChain::new(backend.clone());

	let transaction_pool = Arc::from(
		sc_transaction_pool::Builder::new(
			task_manager.spawn_essential_handle(),
			client.clone(),
			config.role.is_authority().into(),
		)
		.with_options(config.transaction_pool.clone())
		.with_prometheus(config.prometheus_registry())
		.build(),
	);

	let (grandpa_block_import, grandpa_link) = grandpa::block_import(
		client.clone(),
		GRANDPA_JUSTIFICATION_PERIOD,
		&client,
		select_chain.clone(),
		telemetry.as_ref().map(|telemetry| telemetry.handle()),
	)?;

	let slot_duration = sc_consensus_aura::slot_duration(&*client)?;
	let import_queue = sc_consensus_aura::import_queue::<AuraPair, _, _, _, _, _>(ImportQueueParams {
		block_import: grandpa_block_import.clone(),
		justification_import: Some(Box::new(grandpa_block_import.clone())),
		client: client.clone(),
		create_inherent_data_providers: move |_, ()| async move { Ok(aura_inherents(slot_duration)) },
		spawner: &task_manager.spawn_essential_handle(),
		registry: config.prometheus_registry(),
		check_for_equivocation: Default::default(),
		telemetry: telemetry.as_ref().map(|telemetry| telemetry.handle()),
		compatibility_mode: Default::default(),
	})?;

	Ok(PartialComponents {
		client,
		backend,
		task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (grandpa_block_import, grandpa_link, telemetry),
	})
}

/// The full node: network, RPC, and, on an authority (`--validator`, `--alice`, ...),
/// Aura authoring and the GRANDPA voter with the keys in its keystore.
pub fn new_full<N: NetworkBackend<Block, <Block as BlockT>::Hash>>(
	config: Configuration,
) -> Result<TaskManager, ServiceError> {
	let PartialComponents {
		client,
		backend,
		mut task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (block_import, grandpa_link, mut telemetry),
	} = new_partial(&config)?;

	let mut net_config = sc_network::config::FullNetworkConfiguration::<Block, <Block as BlockT>::Hash, N>::new(
		&config.network,
		config.prometheus_registry().cloned(),
	);
	let metrics = N::register_notification_metrics(config.prometheus_registry());
	let grandpa_protocol_name = grandpa::protocol_standard_name(&client.chain_info().genesis_hash, &config.chain_spec);
	let (grandpa_protocol_config, grandpa_notification_service) = grandpa::grandpa_peers_set_config::<_, N>(
		grandpa_protocol_name.clone(),
		metrics.clone(),
		net_config.peer_store_handle(),
	);
	net_config.add_notification_protocol(grandpa_protocol_config);

	let warp_sync = Arc::new(grandpa::warp_proof::NetworkProvider::new(
		backend.clone(),
		grandpa_link.shared_authority_set().clone(),
		Vec::new(),
	));

	let (network, system_rpc_tx, tx_handler_controller, sync_service) =
		sc_service::build_network(sc_service::BuildNetworkParams {
			config: &config,
			net_config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			import_queue,
			block_announce_validator_builder: None,
			warp_sync_config: Some(WarpSyncConfig::WithProvider(warp_sync)),
			block_relay: None,
			metrics,
		})?;

	let role = config.role;
	let force_authoring = config.force_authoring;
	let name = config.network.node_name.clone();
	let enable_grandpa = !config.disable_grandpa;
	let prometheus_registry = config.prometheus_registry().cloned();
	let shared_voter_state = SharedVoterState::empty();

	let rpc_builder = {
		let client = client.clone();
		let pool = transaction_pool.clone();
		let justification_stream = grandpa_link.justification_stream();
		let shared_authority_set = grandpa_link.shared_authority_set().clone();
		let shared_voter_state = shared_voter_state.clone();
		let finality_provider =
			grandpa::FinalityProofProvider::new_for_service(backend.clone(), Some(shared_authority_set.clone()));
		Box::new(
			move |subscription_executor: SubscriptionTaskExecutor| -> Result<_, ServiceError> {
				let deps = crate::rpc::FullDeps {
					client: client.clone(),
					pool: pool.clone(),
					grandpa: crate::rpc::GrandpaDeps {
						shared_voter_state: shared_voter_state.clone(),
						shared_authority_set: shared_authority_set.clone(),
						justification_stream: justification_stream.clone(),
						subscription_executor,
						finality_provider: finality_provider.clone(),
					},
				};
				crate::rpc::create_full(deps).map_err(Into::into)
			},
		)
	};

	sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		network: network.clone(),
		client: client.clone(),
		keystore: keystore_container.keystore(),
		task_manager: &mut task_manager,
		transaction_pool: transaction_pool.clone(),
		rpc_builder,
		backend,
		system_rpc_tx,
		tx_handler_controller,
		sync_service: sync_service.clone(),
		config,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	if role.is_authority() {
		let proposer_factory = sc_basic_authorship::ProposerFactory::new(
			task_manager.spawn_handle(),
			client.clone(),
			transaction_pool.clone(),
			prometheus_registry.as_ref(),
			telemetry.as_ref().map(|telemetry| telemetry.handle()),
		);
		let slot_duration = sc_consensus_aura::slot_duration(&*client)?;
		let aura = sc_consensus_aura::start_aura::<AuraPair, _, _, _, _, _, _, _, _, _, _>(StartAuraParams {
			slot_duration,
			client: client.clone(),
			select_chain,
			block_import,
			proposer_factory,
			create_inherent_data_providers: move |_, ()| async move { Ok(aura_inherents(slot_duration)) },
			force_authoring,
			backoff_authoring_blocks: Option::<()>::None,
			keystore: keystore_container.keystore(),
			sync_oracle: sync_service.clone(),
			justification_sync_link: sync_service.clone(),
			// Two thirds of the 6 s slot to build the block, the rest to spread it.
			block_proposal_slot_portion: SlotProportion::new(2f32 / 3f32),
			max_block_proposal_slot_portion: None,
			telemetry: telemetry.as_ref().map(|telemetry| telemetry.handle()),
			compatibility_mode: Default::default(),
		})?;
		// Authoring is essential: if it stops, the node stops.
		task_manager
			.spawn_essential_handle()
			.spawn_blocking("aura", Some("block-authoring"), aura);
	}

	if enable_grandpa {
		// A node that is not an authority follows finality without a keystore (no votes).
		let keystore = role.is_authority().then(|| keystore_container.keystore());
		let grandpa_config = grandpa::Config {
			gossip_duration: Duration::from_millis(333),
			justification_generation_period: GRANDPA_JUSTIFICATION_PERIOD,
			name: Some(name),
			observer_enabled: false,
			keystore,
			local_role: role,
			telemetry: telemetry.as_ref().map(|telemetry| telemetry.handle()),
			protocol_name: grandpa_protocol_name,
		};
		let voter = grandpa::run_grandpa_voter(grandpa::GrandpaParams {
			config: grandpa_config,
			link: grandpa_link,
			network,
			sync: Arc::new(sync_service),
			notification_service: grandpa_notification_service,
			voting_rule: grandpa::VotingRulesBuilder::default().build(),
			prometheus_registry,
			shared_voter_state,
			telemetry: telemetry.as_ref().map(|telemetry| telemetry.handle()),
			offchain_tx_pool_factory: OffchainTransactionPoolFactory::new(transaction_pool),
		})?;
		// The voter is essential too: a validator that cannot vote must not look healthy.
		task_manager
			.spawn_essential_handle()
			.spawn_blocking("grandpa-voter", None, voter);
	}

	Ok(task_manager)
}
