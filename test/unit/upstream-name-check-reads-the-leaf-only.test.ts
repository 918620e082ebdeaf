/**
 * The upstream name check of a full handshake reads the leaf certificate only
 * (Node would otherwise build the whole peer chain as objects, 0.3–0.4 ms, for
 * a check that reads the leaf's names): no detailed getPeerCertificate during
 * a connect; the check still refuses a wrong name with the certificate's real
 * names; and after the handshake the socket's own getPeerCertificate(true)
 * gives the chain again. Real TLS on loopback.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, TLSSocket, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { makePki, type TestPki } from '../helpers/pki.js';
import { UpstreamCluster } from '../../src/forward/index.js';

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
