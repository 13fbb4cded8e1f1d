// The benchmark Wasm is built here, in the workspace's own target directory, so it shares
// the already built host crates (the Wasm builder and its Binaryen) instead of a target
// directory of its own. Its name (wbuild/ccnet-bench-runtime) keeps it apart from the
// production runtime's Wasm (wbuild/ccnet-runtime).
fn main() {
	#[cfg(feature = "std")]
	substrate_wasm_builder::WasmBuilder::build_using_defaults();
}
