//! Safe points of the ccnet job ABI (`docs/vm-checkpoints.md`).
//!
//! A job calls [`safe_point`] where it may be suspended: in its main loop, after it has
//! read all the stdin it reads before that point. The worker may then unwind the job's
//! call stack into [`UNWIND_BYTES`] of this crate's static buffer (Binaryen's Asyncify,
//! applied to the module by `scripts/build-jobs.sh`), save the linear memory and the
//! exported mutable globals as a VM checkpoint, and later resume it, on this worker or
//! another, exactly where it stopped. Outside a checkpoint a safe point is a host call
//! that returns at once; native builds (the references) compile it to nothing.

#![no_std]

/// Size of the buffer the call stack is unwound into (locals of every frame on the
/// path to the safe point; a few hundred bytes for the built-in jobs).
pub const UNWIND_BYTES: usize = 64 * 1024;

#[cfg(target_arch = "wasm32")]
static mut UNWIND: [u8; UNWIND_BYTES] = [0; UNWIND_BYTES];

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "ccnet")]
extern "C" {
	/// `ccnet.safepoint(buffer, len)`: the host may unwind the stack into
	/// `buffer[..len]` (an Asyncify data buffer, its 8-byte header written by the host).
	fn safepoint(buffer: *mut u8, len: usize);
}

/// A point where the worker may suspend this job (see the crate docs).
#[inline(never)]
pub fn safe_point() {
	#[cfg(target_arch = "wasm32")]
	// SAFETY: the buffer is only ever written by the host, while this call is on the
	// stack (unwinding) or before it returns again (rewinding); Rust never reads it.
	unsafe {
		safepoint(core::ptr::addr_of_mut!(UNWIND).cast(), UNWIND_BYTES)
	}
}
