/**
 * The upstream name check of a full handshake reads the leaf certificate only
 * (Node would otherwise build the whole peer chain as objects, 0.3–0.4 ms, for
 * a check that reads the leaf's names): no detailed getPeerCertificate during
 * a connect; the check still refuses a wrong name with the certificate's real
 * names; and after the handshake the socket's own getPeerCertificate(true)
 * gives the chain again, on a socket whose properties V8 still keeps fast
 * (a `delete` of the shadowing method made them a dictionary for the socket's
 * life). Real TLS on loopback.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createServer, TLSSocket, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { makePki, type TestPki } from '../helpers/pki.js';
import { UpstreamCluster } from '../../src/forward/index.js';
import { REPO_ROOT } from '../helpers/proxy-process.js';

let pki: TestPki;
let server: Server;
let port: number;

before(async () => {
  pki = await makePki();
  const read = (f: string) => readFileSync(`${pki.dir}/${f}`);
  server = createServer({ cert: read('backend.crt'), key: read('backend.key') }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => { server?.close(); });

function cluster(servername: string): UpstreamCluster {
  return new UpstreamCluster({
    name: 'backend', servers: [`127.0.0.1:${port}`], caPem: readFileSync(`${pki.dir}/backend-ca.crt`, 'utf8'), servername,
    minVersion: 'TLSv1.3', balance: 'round-robin', connectTimeoutMs: 5000, failTimeoutMs: 1000, connectRaceMs: 300,
  });
}

/** Calls of TLSSocket.prototype.getPeerCertificate with detailed = true while `fn` runs. */
async function detailedCalls<T>(fn: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const original = TLSSocket.prototype.getPeerCertificate;
  let calls = 0;
  TLSSocket.prototype.getPeerCertificate = function (this: TLSSocket, detailed?: boolean) { if (detailed) calls++; return original.call(this, detailed as boolean); } as TLSSocket['getPeerCertificate'];
  try { return { result: await fn(), calls }; } finally { TLSSocket.prototype.getPeerCertificate = original; }
}

test('a full handshake to the right name: verified, and no detailed chain built for the check', async () => {
  const c = cluster('backend.internal');
  const { result: socket, calls } = await detailedCalls(() => c.connectTo(c.servers[0], { secureContext: c.anonymous() }));
  assert.equal(socket.authorized, true);
  assert.equal(socket.isSessionReused(), false, 'a full handshake, where Node runs the name check');
  assert.equal(calls, 0);
  // afterwards the socket's method is the prototype's again
  assert.ok(socket.getPeerCertificate(true).issuerCertificate, 'the chain is there for anyone who asks');
  socket.destroy();
});

test('a wrong name is still refused, and the diagnosis names the certificate the server has', async () => {
  const c = cluster('other.internal');
  await assert.rejects(c.connectTo(c.servers[0], { secureContext: c.anonymous() }), (err: Error) => {
    assert.match(err.message, /other\.internal/);
    assert.match(err.message, /backend\.internal/);
    return true;
  });
});

test('after the handshake the socket keeps fast properties (checked by V8 itself in a child process)', async () => {
  const forward = pathToFileURL(join(REPO_ROOT, 'dist/src/forward/index.js')).href;
  const script = join(pki.dir, 'fast-properties.mjs');
  writeFileSync(script, `
    import { readFileSync } from 'node:fs';
    import { UpstreamCluster } from ${JSON.stringify(forward)};
    const c = new UpstreamCluster({
      name: 'backend', servers: ['127.0.0.1:${port}'], caPem: readFileSync(${JSON.stringify(`${pki.dir}/backend-ca.crt`)}, 'utf8'), servername: 'backend.internal',
      minVersion: 'TLSv1.3', balance: 'round-robin', connectTimeoutMs: 5000, failTimeoutMs: 1000, connectRaceMs: 300,
    });
    const socket = await c.connectTo(c.servers[0], { secureContext: c.anonymous() });
    console.log(JSON.stringify({ authorized: socket.authorized, fast: %HasFastProperties(socket) }));
    socket.destroy();
  `);
  // async: the server the child connects to runs in this process
  const { stdout: out } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', script], { encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { authorized: true, fast: true });
});
