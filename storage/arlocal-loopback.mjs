// arlocal (a local Arweave gateway) bound to one loopback address only.
//
//   node storage/arlocal-loopback.mjs --port 1984 --dbpath DIR [--host 127.0.0.1]
//
// arlocal's own CLI listens on every interface (Koa's app.listen(port)). This wrapper
// builds the same ArLocal object, but makes its Koa app listen on --host (a loopback
// address; anything else is refused). Data persist in --dbpath (SQLite plus data files).
// arlocal's stop() is not used: with persist=true it drops every table. Shutdown on
// SIGTERM/SIGINT closes the HTTP server and the database, then exits 0.
// Prints one line `ARLOCAL_READY {"host":..,"port":..}` on stdout once it accepts
// connections; exits 1 with a message on stderr if it cannot listen.

import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import arlocalModule from "arlocal";

const ArLocal = arlocalModule.default ?? arlocalModule;

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "1984" },
    dbpath: { type: "string" },
    logs: { type: "boolean", default: false },
  },
});

function fail(message) {
  process.stderr.write(`arlocal-loopback: ${message}\n`);
  process.exit(1);
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;
if (!LOOPBACK.test(values.host)) fail(`refusing to bind ${values.host}: loopback only`);
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad --port ${values.port}`);
if (!values.dbpath) fail("--dbpath DIR is required");
const dbPath = resolve(values.dbpath);
mkdirSync(dbPath, { recursive: true });

// arlocal writes an access log to ./logs: keep it beside the database.
process.chdir(dbPath);

const arlocal = new ArLocal(port, values.logs, dbPath, true);
const koa = arlocal.app;
const listen = koa.listen.bind(koa);
koa.listen = (listenPort, callback) => {
  const server = listen(listenPort, values.host, callback);
  server.on("error", (err) => fail(`cannot listen on ${values.host}:${listenPort}: ${err.message}`));
  server.on("listening", () => {
    const address = server.address();
    process.stdout.write(
      `ARLOCAL_READY ${JSON.stringify({ host: address.address, port: address.port })}\n`,
    );
  });
  return server;
};

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  const server = arlocal.getServer();
  if (server) {
    const closed = new Promise((done) => server.close(() => done()));
    server.closeAllConnections();
    await closed;
  }
  try {
    await arlocal.connection.destroy();
  } catch {
    // the database is already closed
  }
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

try {
  await arlocal.start();
} catch (err) {
  fail(`start failed: ${err?.stack ?? err}`);
}
