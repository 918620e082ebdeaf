/**
 * A resumed TLS session carries the client's leaf only, not the intermediate
 * it sent at its full handshake. carol (issued by an intermediate of the
 * client CA) saves her session and resumes it: she is served. Once a CRL from
 * the root revokes her intermediate, the resumed session (ticket keys kept
 * across the trust change, as a fleet's shared keys may be) is refused as
 * revoked, as a full handshake is.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { sClientRequest, writeCrl } from '../helpers/e2e.js';
import { writeIntermediateCa, type IntermediateCa } from '../helpers/client-chain.js';
import { waitFor } from '../helpers/wait.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startProxy } from '../../src/proxy.js';

let pki: TestPki;
let ica: IntermediateCa;
let backend: HttpsBackend;
let configFile: string;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  pki = await makePki();
  ica = await writeIntermediateCa(pki.dir, pki.pki.clientCa);
  await ica.leaf('carol');
  const rootCrl = await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, []);
  const intermediateCrl = await writeCrl(pki.dir, 'intermediate.crl', ica.intermediate, []);
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  configFile = await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' }, {
    clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, crl: [rootCrl, intermediateCrl] },
    reloadPollInterval: '200ms',
  }));
});
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); await backend?.close(); });

test('a client issued by an intermediate resumes its saved session', async () => {
  const proxy: ProxyProcess = await startProxyProcess(configFile);
  cleanups.push(() => proxy.stop());
  const sess = join(pki.dir, 'carol-cli.sess');
  const first = await sClientRequest(proxy.port, pki.dir, 'carol', { out: sess, chain: ica.chainFile });
  assert.equal(first.status, 'HTTP/1.1 200 OK', first.out);
  for (let i = 0; i < 2; i++) {
    const resumed = await sClientRequest(proxy.port, pki.dir, 'carol', { in: sess, out: sess, chain: ica.chainFile });
    assert.ok(resumed.reused, `try ${i + 1}: the saved session resumed`);
    assert.equal(resumed.status, 'HTTP/1.1 200 OK', resumed.out);
  }
});

test('with ticket keys kept across the trust change, a resumed session whose intermediate is now revoked is refused as revoked', async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }) });
  const proxy = await startProxy({ config: (await loadConfig(configFile)).config, logger, rotateTicketKeysOnTrustChange: false });
  cleanups.push(() => proxy.stop(1000));
  const sess = join(pki.dir, 'carol-kept.sess');
  const first = await sClientRequest(proxy.address.port, pki.dir, 'carol', { out: sess, chain: ica.chainFile });
  assert.equal(first.status, 'HTTP/1.1 200 OK', first.out);
  await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, [ica.intermediate]);
  await waitFor(() => lines.some((l) => l.msg === 'client trust reloaded'), 'the new CRL to be loaded', 15_000);
  const served = backend.requests.length;
  const r = await sClientRequest(proxy.address.port, pki.dir, 'carol', { in: sess, chain: ica.chainFile });
  assert.ok(r.reused, 'the session resumed (the keys were kept)');
  assert.match(r.status, /^HTTP\/1\.1 400/, r.out);
  assert.equal(backend.requests.length, served, 'nothing reached the backend');
  const refused = await waitFor(() => lines.find((l) => l.msg === 'client refused'), 'the refusal to be logged');
  assert.equal(refused.reason, 'revoked', JSON.stringify(refused));
  assert.match(String(refused.detail), /intermediate/);
});
