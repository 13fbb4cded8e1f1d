#!/usr/bin/env bash
# Provide a Rust toolchain that can build the runtime for wasm32-unknown-unknown
# (and std for wasm32-wasip1, used for worker jobs).
#
# Preferred route: rustup's own wasm targets on the default toolchain.
# Fallback (no rustup server reachable): Debian's rustc-web/cargo-web/rust-web-src
# plus lld, wrapped in a sysroot linked as the rustup toolchain "web".
#
# Prints the value for WASM_BUILD_TOOLCHAIN ("" for the default toolchain) on stdout
# as its last line. Idempotent: a second run only checks and exits.
set -euo pipefail

CACHE="${CCNET_CACHE:-$HOME/.cache/ccnet}"
SYSROOT="$CACHE/toolchain/web"
STAMP="$SYSROOT/.ccnet-ready"
DEB_PKGS=(rustc-web cargo-web rust-web-src lld-22 wasi-libc)
log() { printf '[wasm-toolchain] %s\n' "$*" >&2; }

# CCNET_WASM_ROUTE=debian forces the fallback (to test it where rustup works).
ROUTE="${CCNET_WASM_ROUTE:-auto}"
# Worker jobs (worker/jobs, scripts/build-jobs.sh) need wasm32-wasip1 on the same route.
rustup_wasip1() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 \
    || timeout 60 rustup target add wasm32-wasip1 >/dev/null 2>&1
}
if [ "$ROUTE" != debian ] && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
   && rustup component list --installed 2>/dev/null | grep -q '^rust-src' && rustup_wasip1; then
  log "using rustup's wasm32-unknown-unknown and wasm32-wasip1 targets"
  echo ""
  exit 0
fi
if [ -f "$STAMP" ] && rustup toolchain list | grep -q '^web'; then
  log "toolchain 'web' is ready ($SYSROOT)"
  echo "web"
  exit 0
fi
if [ "$ROUTE" != debian ] && timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 \
   && timeout 60 rustup component add rust-src >/dev/null 2>&1 && rustup_wasip1; then
  log "installed rustup's wasm32-unknown-unknown and wasm32-wasip1 targets"
  echo ""
  exit 0
fi

log "rustup cannot install wasm targets here; building the Debian-based toolchain 'web'"
missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

HOST=x86_64-unknown-linux-gnu
rm -rf "$SYSROOT"
mkdir -p "$SYSROOT/bin" "$SYSROOT/lib/rustlib/$HOST/bin"
cat > "$SYSROOT/bin/rustc" <<WRAP
#!/bin/sh
exec /usr/bin/rustc --sysroot "$SYSROOT" "\$@"
WRAP
chmod +x "$SYSROOT/bin/rustc"
ln -s /usr/bin/cargo "$SYSROOT/bin/cargo"
ln -s /usr/bin/rustdoc "$SYSROOT/bin/rustdoc"
ln -s "/usr/lib/rustlib/$HOST/lib" "$SYSROOT/lib/rustlib/$HOST/lib"
ln -s /usr/bin/lld-22 "$SYSROOT/lib/rustlib/$HOST/bin/rust-lld"
ln -s /usr/lib/rustlib/src "$SYSROOT/lib/rustlib/src"

# Prebuild std for each wasm target and copy the rlibs into the sysroot.
WORK="$CACHE/toolchain/build-std"
rm -rf "$WORK"; mkdir -p "$WORK/src"
printf '[package]\nname = "stdprobe"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n[workspace]\n' > "$WORK/Cargo.toml"
echo 'pub fn probe() -> usize { std::vec![1u8].len() }' > "$WORK/src/lib.rs"
for target in wasm32-unknown-unknown wasm32-wasip1; do
  log "building std for $target"
  (cd "$WORK" && RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$WORK/target" \
     /usr/bin/cargo build -q --release -Zbuild-std=std,panic_abort --target "$target" >&2)
  mkdir -p "$SYSROOT/lib/rustlib/$target/lib"
  cp "$WORK/target/$target/release/deps/"*.rlib "$SYSROOT/lib/rustlib/$target/lib/"
  rm -f "$SYSROOT/lib/rustlib/$target/lib/"libstdprobe-*.rlib
done
mkdir -p "$SYSROOT/lib/rustlib/wasm32-wasip1/lib/self-contained"
if [ -d /usr/lib/wasm32-wasi ]; then
  ln -sf /usr/lib/wasm32-wasi/* "$SYSROOT/lib/rustlib/wasm32-wasip1/lib/self-contained/"
fi

rustup toolchain link web "$SYSROOT" >&2
touch "$STAMP"
log "toolchain 'web' is ready ($SYSROOT)"
echo "web"
