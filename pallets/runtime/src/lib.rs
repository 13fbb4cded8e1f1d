//! # Compute Currency runtime
//!
//! One runtime for validators (under a chain node) and for tests and the demo
//! (under Chopsticks): System, Timestamp, Aura, GRANDPA, Balances,
//! TransactionPayment and Sudo, plus the five ccnet pallets (credits, tasks,
//! channels, checkpoints, disputes) and the randomness source of disputes.
//!
//! CC is the native token: 12 decimals, so 1 CC = 10^12 planck.
//!
//! The transaction extensions are exactly the template's, in its order, and
//! carry no extra data, because `substrate-interface` 1.8 encodes v4 signed
//! extrinsics with that list (see [`TxExtension`]).

#![cfg_attr(not(feature = "std"), no_std)]
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

pub mod apis;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarks;
pub mod configs;
pub mod genesis_config_presets;
pub mod weights;

use alloc::vec::Vec;
use polkadot_sdk::{
	frame_support, frame_system,
	sp_runtime::{generic, impl_opaque_keys, traits::BlakeTwo256, MultiAddress, MultiSignature},
	sp_version::RuntimeVersion,
	*,
};
use sp_runtime::traits::{IdentifyAccount, Verify};

pub use pallet_balances::Call as BalancesCall;
pub use sp_runtime::{Perbill, Permill};

/// Alias to 512-bit hash when used in the context of a transaction signature.
pub type Signature = MultiSignature;
/// Account id: the 32-byte public key of the signing scheme (sr25519 in practice).
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;
/// Balance of an account, in planck.
pub type Balance = u128;
/// Index of a transaction of an account.
pub type Nonce = u32;
/// A block hash.
pub type Hash = sp_core::H256;
/// A block number.
pub type BlockNumber = u32;

/// Planck per CC.
pub const UNIT: Balance = 1_000_000_000_000;
/// Planck per milli-CC.
pub const MILLI_UNIT: Balance = UNIT / 1_000;
/// The existential deposit: 1 milli-CC.
pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_UNIT;

/// Target block time. Chopsticks' timestamp inherent advances by the Aura slot
/// duration, which the runtime derives from this (`MinimumPeriod` is half of it).
pub const MILLI_SECS_PER_BLOCK: u64 = 6_000;
/// The Aura slot duration, in ms.
pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;
/// Blocks per minute.
pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
/// Blocks per hour.
pub const HOURS: BlockNumber = MINUTES * 60;
/// Blocks per day.
pub const DAYS: BlockNumber = HOURS * 24;

/// Opaque types for the node, which needs not know the extrinsic format.
pub mod opaque {
	use super::*;
	/// Opaque extrinsic.
	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;
	/// Opaque block header.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;

	impl_opaque_keys! {
		/// The session keys of a validator.
		pub struct SessionKeys {
			/// Block authoring.
			pub aura: Aura,
			/// Finality.
			pub grandpa: Grandpa,
		}
	}
}

/// The runtime version.
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("ccnet"),
	impl_name: alloc::borrow::Cow::Borrowed("ccnet"),
	authoring_version: 1,
	spec_version: 100,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// The native version, for the node.
#[cfg(feature = "std")]
pub fn native_version() -> sp_version::NativeVersion {
	sp_version::NativeVersion {
		runtime_version: VERSION,
		can_author_with: Default::default(),
	}
}

/// The address format of extrinsics.
pub type Address = MultiAddress<AccountId, ()>;
/// Block header.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
/// Block.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// The transaction extensions, in the order `substrate-interface` 1.8.1 encodes
/// them; none carries extra data beyond what it knows (era, nonce, tip).
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
);

/// Extrinsic as the runtime expects it.
pub type UncheckedExtrinsic = generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;
/// The payload signed in transactions.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// Runtime migrations beyond the pallets' own: none yet.
type Migrations = ();

/// Dispatches to the pallets.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;
	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;
	#[runtime::pallet_index(2)]
	pub type Aura = pallet_aura;
	#[runtime::pallet_index(3)]
	pub type Grandpa = pallet_grandpa;
	#[runtime::pallet_index(4)]
	pub type Balances = pallet_balances;
	#[runtime::pallet_index(5)]
	pub type TransactionPayment = pallet_transaction_payment;
	#[runtime::pallet_index(6)]
	pub type Sudo = pallet_sudo;
	#[runtime::pallet_index(7)]
	pub type RandomnessCollectiveFlip = pallet_insecure_randomness_collective_flip;

	#[runtime::pallet_index(10)]
	pub type Credits = pallet_credits;
	#[runtime::pallet_index(11)]
	pub type Tasks = pallet_tasks;
	#[runtime::pallet_index(12)]
	pub type Channels = pallet_channels;
	#[runtime::pallet_index(13)]
	pub type Checkpoints = pallet_checkpoints;
	#[runtime::pallet_index(14)]
	pub type Disputes = pallet_disputes;
}
