// Regenerates tests/vectors/arweave.json from arweave-js (node_modules/arweave, installed
// with arlocal), the reference ccnet.storage's merkle, deep hash and transaction code
// must match:   node tests/vectors/arweave_vectors.mjs > tests/vectors/arweave.json
// Data of n bytes: SHA-256("ccnet-vector" + u32be(i)) for i = 0, 1, ... concatenated, cut
// to n. Proofs are given as the SHA-256 of their concatenation, to keep the file small.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const arweavePkg = require("arweave/package.json");
const merkle = require("arweave/node/lib/merkle.js");
const deepHash = require("arweave/node/lib/deepHash.js").default;
const Transaction = require("arweave/node/lib/transaction.js").default;
const b64url = (buf) => Buffer.from(buf).toString("base64url");
const sha256 = (buf) => createHash("sha256").update(buf).digest();

function vectorData(size) {
  const out = Buffer.alloc(size);
  for (let i = 0, at = 0; at < size; i++, at += 32) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(i);
    sha256(Buffer.concat([Buffer.from("ccnet-vector"), counter])).copy(out, at);
  }
  return out;
}

const sizes = [1, 1000, 32767, 32768, 256000, 262143, 262144, 262145, 270000, 294911,
  294912, 300000, 524288, 557056, 1048576, 1048577, 5 * 1024 * 1024];
const merkleVectors = [];
for (const size of sizes) {
  const data = vectorData(size);
  const { data_root, chunks, proofs } = await merkle.generateTransactionChunks(data);
  merkleVectors.push({
    size,
    data_root: b64url(data_root),
    chunks: chunks.map((c) => [c.minByteRange, c.maxByteRange]),
    offsets: proofs.map((p) => p.offset),
    proofs_sha256: b64url(sha256(Buffer.concat(proofs.map((p) => Buffer.from(p.proof))))),
  });
}

const deepHashVectors = [];
for (const item of [
  [],
  Buffer.alloc(0),
  Buffer.from("ccnet"),
  [Buffer.from("a"), [Buffer.from("b"), Buffer.alloc(0)], []],
]) {
  const encode = (x) => (Array.isArray(x) ? x.map(encode) : b64url(x));
  deepHashVectors.push({ item: encode(item), hash: b64url(await deepHash(item)) });
}

// A transaction: fixed owner, anchor, reward, tags and data; getSignatureData() is what
// the RSA-PSS signature covers (the signature itself is randomised).
const data = vectorData(270000);
const tx = new Transaction({
  format: 2,
  owner: b64url(sha256(Buffer.from("owner")).toString("hex").repeat(8)),
  last_tx: b64url(sha256(Buffer.from("anchor")).toString("hex") + "0123456789abcdef"),
  reward: "17711000",
  data_size: String(data.byteLength),
});
tx.addTag("App-Name", "ccnet");
tx.addTag("Type", "checkpoint");
tx.addTag("Note", "grüße ✓");
await tx.prepareChunks(data);
const transaction = {
  data_size: data.byteLength,
  owner: tx.owner,
  last_tx: tx.last_tx,
  reward: tx.reward,
  tags: [["App-Name", "ccnet"], ["Type", "checkpoint"], ["Note", "grüße ✓"]],
  data_root: tx.data_root,
  signature_data: b64url(await tx.getSignatureData()),
};

process.stdout.write(JSON.stringify({
  source: `arweave-js ${arweavePkg.version} (tests/vectors/arweave_vectors.mjs)`,
  data: 'SHA-256("ccnet-vector" + u32be(i)) for i = 0, 1, ... concatenated, cut to size',
  merkle: merkleVectors,
  deep_hash: deepHashVectors,
  transaction,
}, null, 1) + "\n");
