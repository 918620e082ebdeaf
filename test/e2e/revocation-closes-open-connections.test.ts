/**
 * A CRL change under live connections: the open connections of a client the
 * new CRL revokes are closed (connection mode and http mode), each logged as
 * one `connection` line with outcome `revoked`; another client's connection is
 * untouched; the revoked client's new handshakes are refused.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, startTlsBackend, type HttpsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { tlsClient, writeClientCertificates, writeCrl, readUntilClose } from '../helpers/e2e.js';
import { askOnSocket as ask } from '../helpers/e2e.js';

let pki: TestPki;
let web: HttpsBackend;
let tcp: TlsBackend;
let proxy: ProxyProcess;
const noNameCheck = { checkServerIdentity: () => undefined };

before(async () => {
  pki = await makePki();
  const { crl } = await writeClientCertificates(pki);
  web = await startHttpsBackend({ pkiDir: pki.dir });
  tcp = await startTlsBackend({ pkiDir: pki.dir }); // echo
  const config = baseConfig(pki.dir, web.port, { mode: 'http' }, { clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, crl } }) as Record<string, any>;
  config.upstreams.tcp = { servers: [`127.0.0.1:${tcp.port}`], ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal' };
  config.routes.unshift({ upstream: 'tcp', match: { sni: 'tcp.localhost' }, mode: 'connection', identity: 'delegated' });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await web?.close(); await tcp?.close(); });


function echo(s: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve) => { s.once('data', (d: Buffer) => resolve(d.toString())); s.write(text); });
}

test('revoking a client closes its open connections in both modes and spares the others', async (t) => {
  const aliceTcp = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'tcp.localhost', ...noNameCheck });
  const aliceWeb = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  const bobWeb = await tlsClient(proxy.port, pki.dir, 'bob', { ALPNProtocols: ['http/1.1'] });
  assert.equal(await echo(aliceTcp, 'hello'), 'hello');
  assert.equal(await ask(aliceWeb, '/before'), 'HTTP/1.1 200 OK');
  assert.equal(await ask(bobWeb, '/before'), 'HTTP/1.1 200 OK');
  const tcpClosed = readUntilClose(aliceTcp);
  const webClosed = readUntilClose(aliceWeb);

  const changed = performance.now();
  // the new CRL revokes alice
  await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, [pki.pki.clients.alice]);
  await Promise.all([tcpClosed, webClosed]);
  const closedAfterMs = Math.round(performance.now() - changed);
  t.diagnostic(`revoked connections closed ${closedAfterMs} ms after the CRL file was written`);

  await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'revoked' && l.mode === 'connection');
  await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'revoked' && l.mode === 'http');
  const lines = proxy.logs.filter((l) => l.msg === 'connection' && l.outcome === 'revoked');
  assert.equal(lines.length, 2, 'one line per closed connection');
  for (const l of lines) { assert.equal(l.reason, 'revoked'); assert.match(String(l.subject), /CN=alice/); }

  // bob is not revoked: his open connection is still served
  assert.equal(await ask(bobWeb, '/after'), 'HTTP/1.1 200 OK');
  bobWeb.destroy();
  // alice's new connections are refused
  const again = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  assert.match(await ask(again, '/again'), /^HTTP\/1.1 400/);
  again.destroy();
  assert.equal(web.requests.filter((r) => r.url === '/again').length, 0);
});
