#!/usr/bin/env bash
# Local dev chain: Chopsticks from a raw chain spec, on 127.0.0.1 only.
#   scripts/devchain.sh start|stop|status [--spec FILE] [--port N]
# Defaults: chain-spec/development.raw.json, port 8000, block building "Instant";
# pid file and log in .state/devchain/. The work is done by ccnet.client.devchain
# (the same code as `ccnet chain ...` and the pytest fixture).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
  echo "devchain: $PY is missing; run 'make setup' first" >&2
  exit 1
fi
case "${1:-}" in
  start|stop|status) ;;
  *) echo "usage: $0 start|stop|status [--spec FILE] [--port N]" >&2; exit 2 ;;
esac
CCNET_ROOT="$ROOT" exec "$PY" -m ccnet.client chain "$@"
