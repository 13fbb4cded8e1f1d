// Long-lived snarkjs helper for ccnet.zk: one Node process answers many
// requests, so neither Node's start-up nor building the BN254 curve is paid per proof.
//
// Protocol: one JSON object per line on stdin, one JSON reply per line on stdout, in
// order. Requests:
//   {"id": 1, "op": "ping"}
//   {"id": 2, "op": "prove", "wasm": PATH, "zkey": PATH, "input": {...}}
//       -> {"id": 2, "ok": true, "proof": {...}, "publicSignals": ["..."]}
//   {"id": 3, "op": "verify", "vkey": {...}, "publicSignals": [...], "proof": {...}}
//       -> {"id": 3, "ok": true, "valid": true|false, "reason": "..."}
//   {"id": 4, "op": "poseidon", "inputs": ["1", "2"]}   (1..16 decimal field elements)
//       -> {"id": 4, "ok": true, "hash": "..."}
// A failed request answers {"id": N, "ok": false, "error": "..."}; the process lives on.
// It exits when stdin closes. Logs go to stderr only: stdout carries the replies.

import readline from "node:readline";
import * as snarkjs from "snarkjs";
import * as poseidonLite from "poseidon-lite";

console.log = console.error; // keep stdout for replies

const zkeyCache = new Map(); // path -> {mtimeMs, data}: zkeys are read once

async function loadFile(path) {
  const { stat, readFile } = await import("node:fs/promises");
  const info = await stat(path);
  const hit = zkeyCache.get(path);
  if (hit && hit.mtimeMs === info.mtimeMs) return hit.file;
  const file = { type: "mem", data: new Uint8Array(await readFile(path)) };
  zkeyCache.set(path, { mtimeMs: info.mtimeMs, file });
  return file;
}

let curve = null; // the same cached instance snarkjs's verify uses (globalThis.curve_bn128)
async function bn128() {
  if (curve === null) curve = await snarkjs.curves.getCurveFromName("bn128");
  return curve;
}

// snarkjs checks that B is on the twist, not that it lies in the order-r subgroup
// (BN254's G2 has a cofactor). The Python reference checks it, so do the same here.
async function g2InSubgroup(point) {
  const c = await bn128();
  const p = c.G2.fromObject(point.map((coords) => coords.map(BigInt)));
  if (!c.G2.isValid(p)) return false;
  return c.G2.isZero(c.G2.timesScalar(p, c.r)); // [r]B = O iff B is in the subgroup
}

async function verify(req) {
  const { vkey, publicSignals, proof } = req;
  if (!Array.isArray(publicSignals) || !Array.isArray(vkey.IC)) {
    return { valid: false, reason: "malformed request" };
  }
  if (publicSignals.length !== vkey.IC.length - 1) {
    return { valid: false, reason: "public signal count does not match the key" };
  }
  let valid;
  try {
    valid = await snarkjs.groth16.verify(vkey, publicSignals, proof);
  } catch (err) {
    return { valid: false, reason: `rejected: ${err.message ?? err}` };
  }
  if (!valid) return { valid: false, reason: "pairing check failed" };
  if (!(await g2InSubgroup(proof.pi_b))) {
    return { valid: false, reason: "pi_b is not in the G2 subgroup" };
  }
  return { valid: true, reason: "" };
}

async function handle(req) {
  switch (req.op) {
    case "ping":
      return { pong: true };
    case "prove": {
      const zkey = await loadFile(req.zkey);
      const wasm = await loadFile(req.wasm);
      const { proof, publicSignals } = await snarkjs.groth16.fullProve(req.input, wasm, zkey);
      return { proof, publicSignals };
    }
    case "verify":
      return await verify(req);
    case "poseidon": {
      const n = req.inputs.length;
      const fn = poseidonLite[`poseidon${n}`];
      if (typeof fn !== "function") throw new Error(`poseidon takes 1..16 inputs, got ${n}`);
      return { hash: fn(req.inputs.map(BigInt)).toString() };
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();

lines.on("line", (line) => {
  if (!line.trim()) return;
  // Serve requests one at a time, in arrival order.
  queue = queue.then(async () => {
    let id = null;
    let reply;
    try {
      const req = JSON.parse(line);
      id = req.id ?? null;
      reply = { id, ok: true, ...(await handle(req)) };
    } catch (err) {
      reply = { id, ok: false, error: String(err?.message ?? err) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
});

lines.on("close", () => {
  queue.then(async () => {
    if (curve !== null) await curve.terminate();
    process.exit(0);
  });
});
