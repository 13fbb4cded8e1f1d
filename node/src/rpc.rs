//! The node's own RPC methods, merged by `sc-service` with Substrate's `system`,
//! `author`, `chain`, `state` (and the new JSON-RPC spec's `chainHead`, ...):
//! `system_accountNextIndex` (substrate-frame-rpc-system), `payment_queryInfo` and
//! `payment_queryFeeDetails` (pallet-transaction-payment-rpc), and GRANDPA's
//! `grandpa_roundState`, `grandpa_proveFinality`, `grandpa_subscribeJustifications`.

use crate::service::{FullBackend, FullClient, TransactionPool};
use ccnet_runtime::opaque::Block;
use jsonrpsee::RpcModule;
use polkadot_sdk::{
	sc_consensus_grandpa::{FinalityProofProvider, GrandpaJustificationStream, SharedAuthoritySet, SharedVoterState},
	sc_rpc::SubscriptionTaskExecutor,
	*,
};
use std::sync::Arc;

/// What GRANDPA's RPC reads.
pub struct GrandpaDeps {
	pub shared_voter_state: SharedVoterState,
	pub shared_authority_set: SharedAuthoritySet<ccnet_runtime::Hash, ccnet_runtime::BlockNumber>,
	pub justification_stream: GrandpaJustificationStream<Block>,
	pub subscription_executor: SubscriptionTaskExecutor,
	pub finality_provider: Arc<FinalityProofProvider<FullBackend, Block>>,
}

/// What all the node's own RPC methods read.
pub struct FullDeps {
	pub client: Arc<FullClient>,
	pub pool: Arc<TransactionPool>,
	pub grandpa: GrandpaDeps,
}

/// The node's own RPC methods in one module.
pub fn create_full(deps: FullDeps) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>> {
	use pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer};
	use sc_consensus_grandpa_rpc::{Grandpa, GrandpaApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let FullDeps { client, pool, grandpa } = deps;
	let mut module = RpcModule::new(());
	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client).into_rpc())?;
	module.merge(
		Grandpa::new(
			grandpa.subscription_executor,
			grandpa.shared_authority_set,
			grandpa.shared_voter_state,
			grandpa.justification_stream,
			grandpa.finality_provider,
		)
		.into_rpc(),
	)?;
	Ok(module)
}
