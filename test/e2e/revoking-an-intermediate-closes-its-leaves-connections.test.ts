/**
 * A client CA with an intermediate: carol's certificate is issued by the
 * intermediate. A new CRL from the root that revokes the intermediate closes
 * carol's open connections (connection mode and http mode), each logged as
 * `revoked`, spares alice (issued by the root itself), and refuses carol's
 * new handshakes.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, startTlsBackend, type HttpsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { askOnSocket as ask, tlsClient, writeCrl, readUntilClose } from '../helpers/e2e.js';
import { writeIntermediateCa, type IntermediateCa } from '../helpers/client-chain.js';

let pki: TestPki;
let ica: IntermediateCa;
let web: HttpsBackend;
let tcp: TlsBackend;
let proxy: ProxyProcess;
const noNameCheck = { checkServerIdentity: () => undefined };

before(async () => {
  pki = await makePki();
  ica = await writeIntermediateCa(pki.dir, pki.pki.clientCa);
  await ica.leaf('carol');
  // with CRL checking on, OpenSSL wants a CRL from every CA of the chain: the root's and the intermediate's
  const rootCrl = await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, []);
  const intermediateCrl = await writeCrl(pki.dir, 'intermediate.crl', ica.intermediate, []);
  web = await startHttpsBackend({ pkiDir: pki.dir });
  tcp = await startTlsBackend({ pkiDir: pki.dir }); // echo
  const config = baseConfig(pki.dir, web.port, { mode: 'http' }, {
    clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, crl: [rootCrl, intermediateCrl] },
    reloadPollInterval: '200ms',
  }) as Record<string, any>;
  config.upstreams.tcp = { servers: [`127.0.0.1:${tcp.port}`], ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal' };
  config.routes.unshift({ upstream: 'tcp', match: { sni: 'tcp.localhost' }, mode: 'connection', identity: 'delegated' });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await web?.close(); await tcp?.close(); });

function echo(s: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve) => { s.once('data', (d: Buffer) => resolve(d.toString())); s.write(text); });
}

test('a CRL that revokes the intermediate closes the open connections of its leaves and refuses their new handshakes', async (t) => {
  const carolTcp = await tlsClient(proxy.port, pki.dir, 'carol', { servername: 'tcp.localhost', ...noNameCheck });
  const carolWeb = await tlsClient(proxy.port, pki.dir, 'carol', { ALPNProtocols: ['http/1.1'] });
  const aliceWeb = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  assert.equal(await echo(carolTcp, 'hello'), 'hello');
  assert.equal(await ask(carolWeb, '/before'), 'HTTP/1.1 200 OK');
  assert.equal(await ask(aliceWeb, '/before'), 'HTTP/1.1 200 OK');
  const tcpClosed = readUntilClose(carolTcp);
  const webClosed = readUntilClose(carolWeb);

  const changed = performance.now();
  // the root's new CRL revokes the intermediate; carol's own serial is on no CRL
  await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, [ica.intermediate]);
  await Promise.all([tcpClosed, webClosed]);
  t.diagnostic(`the leaves' connections closed ${Math.round(performance.now() - changed)} ms after the CRL file was written`);

  await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'revoked' && l.mode === 'connection');
  await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'revoked' && l.mode === 'http');
  const lines = proxy.logs.filter((l) => l.msg === 'connection' && l.outcome === 'revoked');
  assert.equal(lines.length, 2, 'one line per closed connection');
  for (const l of lines) { assert.equal(l.reason, 'revoked'); assert.match(String(l.subject), /CN=carol/); }

  // alice, issued by the root itself, is still served on her open connection and on a new one
  assert.equal(await ask(aliceWeb, '/after'), 'HTTP/1.1 200 OK');
  aliceWeb.destroy();
  const aliceAgain = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  assert.equal(await ask(aliceAgain, '/alice-again'), 'HTTP/1.1 200 OK');
  aliceAgain.destroy();
  // carol's new connections are refused
  const again = await tlsClient(proxy.port, pki.dir, 'carol', { ALPNProtocols: ['http/1.1'] });
  assert.match(await ask(again, '/again'), /^HTTP\/1.1 400/);
  again.destroy();
  assert.equal(web.requests.filter((r) => r.url === '/again').length, 0);
  const refused = await proxy.waitForLog((l) => l.msg === 'client refused' && /CN=carol/.test(String(l.subject)));
  assert.equal(refused.reason, 'revoked');
});
