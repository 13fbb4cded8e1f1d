#!/usr/bin/env bash
# Local Arweave gateway: arlocal (npm, pinned in package.json) on 127.0.0.1 only.
#   scripts/arlocal.sh start|stop|status [--port N] [--state-dir DIR]
# Defaults: port 1984; pid file, log and data (kept across restarts) in .state/arlocal/.
# The work is done by ccnet.storage.devgateway (the same code as
# `ccnet checkpoint gateway ...` and the pytest `arlocal` fixture).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
  echo "arlocal: $PY is missing; run 'make setup' first" >&2
  exit 1
fi
case "${1:-}" in
  start|stop|status) ;;
  *) echo "usage: $0 start|stop|status [--port N] [--state-dir DIR]" >&2; exit 2 ;;
esac
CCNET_ROOT="$ROOT" exec "$PY" -m ccnet.client checkpoint gateway "$@"
