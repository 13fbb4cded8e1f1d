#!/usr/bin/env bash
# Build the zk circuits' artifacts: R1CS + witness generator (circom2), a
# powers of tau and one Groth16 zkey + verification key per circuit (snarkjs), into
# ${CCNET_ZK_CACHE:-$HOME/.cache/ccnet/zk}, outside git. Idempotent: artifacts are keyed
# by circuit source and tool versions, so a warm run takes about a second; a cold one
# about three minutes (most of it `powersoftau prepare phase2`, done once).
# CCNET_ZK_PTAU=/path/to/powersOfTau28_hez_final_12.ptau uses a published ceremony's
# prepared file instead of a local, development-only one (see zk/README.md).
# Needs .venv and node_modules (scripts/setup.sh makes both and then calls this).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -x .venv/bin/python ] || { echo "[zk-setup] error: no .venv; run scripts/setup.sh" >&2; exit 1; }
[ -d node_modules/snarkjs ] || { echo "[zk-setup] error: no node_modules/snarkjs; run scripts/setup.sh" >&2; exit 1; }
exec .venv/bin/python -m ccnet.zk.build "$@"
