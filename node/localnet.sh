#!/bin/bash
# Start four validators (Alice, Bob, Charlie, Dave) of the `local` chain on 127.0.0.1, on
# free ports, each with its own base path under $NET, its keys inserted with `key insert`
# (aura: sr25519, gran: ed25519) and a generated node key; Alice is the boot node.
# Stop them with: kill $(cat $NET/*.pid). A hand test, not part of any suite.
set -euo pipefail
BIN=${BIN:-$HOME/.cache/ccnet/node-target/debug/ccnet-node}
NET=${NET:-/tmp/ccnet-4v}
rm -rf "$NET"; mkdir -p "$NET"
read -r -a PORTS <<<"$(python3 - <<'PY'
import socket
socks=[socket.socket() for _ in range(8)]
for s in socks: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"
names=(alice bob charlie dave)
seeds=(Alice Bob Charlie Dave)
boot=""
for i in 0 1 2 3; do
  n=${names[$i]}; bp="$NET/$n"
  "$BIN" key insert --base-path "$bp" --chain local --scheme sr25519 --suri "//${seeds[$i]}" --key-type aura
  "$BIN" key insert --base-path "$bp" --chain local --scheme ed25519 --suri "//${seeds[$i]}" --key-type gran
  peer=$("$BIN" key generate-node-key --base-path "$bp" --chain local 2>&1 >/dev/null | tail -1)
  echo "$n peer $peer p2p ${PORTS[$i]} rpc ${PORTS[$((i+4))]}"
  echo "$n ${PORTS[$i]} ${PORTS[$((i+4))]} $peer" >> "$NET/nodes.txt"
  [ -n "$boot" ] || boot="/ip4/127.0.0.1/tcp/${PORTS[0]}/p2p/$peer"
done
# One compiled-runtime cache for all four (the node keeps it in <data>/wasm-cache):
# Alice compiles the runtime once, the others start from her cache.
mkdir -p "$NET/wasm-cache"
for n in "${names[@]}"; do ln -s "$NET/wasm-cache" "$NET/$n/chains/ccnet_local_testnet/wasm-cache"; done
for i in 0 1 2 3; do
  n=${names[$i]}
  if [ "$i" = 1 ]; then
    t0=$(date +%s)
    until curl -s -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"system_health"}' "http://127.0.0.1:${PORTS[4]}" >/dev/null; do sleep 2; done
    echo "alice up after $(( $(date +%s) - t0 ))s"
  fi
  nohup "$BIN" --chain local --base-path "$NET/$n" --validator --name "$n" \
    --listen-addr "/ip4/127.0.0.1/tcp/${PORTS[$i]}" --rpc-port "${PORTS[$((i+4))]}" \
    --no-mdns --no-prometheus --no-telemetry --bootnodes "$boot" \
    > "$NET/$n.log" 2>&1 &
  echo $! > "$NET/$n.pid"
done
echo "started; logs in $NET"
