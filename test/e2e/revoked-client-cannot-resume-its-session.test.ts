/**
 * A client saves its TLS session (`openssl s_client -sess_out`), is revoked by
 * a new CRL, and tries to resume it (`-sess_in`): it is refused, with one
 * worker and with two (the workers share session-ticket keys). And with the
 * ticket keys kept across the trust change (as keys shared across a fleet
 * from a file are), a resumed session is still checked against the new CRL.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { sClientRequest as sClientRequestAs, writeClientCertificates, writeCrl } from '../helpers/e2e.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startProxy } from '../../src/proxy.js';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

const sClientRequest = (port: number, pki: TestPki, who: string, session: { out?: string; in?: string }) => sClientRequestAs(port, pki.dir, who, session);

async function setUp(workers: number) {
  const pki = await makePki();
  const { crl } = await writeClientCertificates(pki);
  const backend = await startHttpsBackend({ pkiDir: pki.dir });
  cleanups.push(() => backend.close());
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' }, { clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, crl }, reloadPollInterval: '200ms' }) as Record<string, unknown>;
  config.workers = workers;
  return { pki, backend, crl, configFile: await writeConfig(pki.dir, config) };
}

for (const workers of [1, 2]) {
  test(`workers: ${workers}: a session saved before the revocation does not get the client back in`, async () => {
    const { pki, backend, configFile } = await setUp(workers);
    const proxy: ProxyProcess = await startProxyProcess(configFile);
    cleanups.push(() => proxy.stop());
    const sess = join(pki.dir, 'bob.sess');
    const first = await sClientRequest(proxy.port, pki, 'bob', { out: sess });
    assert.equal(first.status, 'HTTP/1.1 200 OK', first.out);
    // resumption works (so the refusal below is about the revocation, not a broken resumption)
    const resumed = await sClientRequest(proxy.port, pki, 'bob', { in: sess, out: sess });
    assert.equal(resumed.status, 'HTTP/1.1 200 OK');
    assert.ok(resumed.reused, 'the saved session resumed before the revocation');

    const mark = proxy.logs.length;
    await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, [pki.pki.clients.bob]);
    // every worker has reloaded the trust
    await proxy.waitForLog(() => proxy.logs.slice(mark).filter((l) => l.msg === 'client trust reloaded').length >= workers, 15_000);
    const served = backend.requests.length;
    for (let i = 0; i < 4; i++) { // several tries: with two workers, each worker is asked
      const r = await sClientRequest(proxy.port, pki, 'bob', { in: sess });
      assert.match(r.status, /^HTTP\/1\.1 400/, `try ${i + 1}: ${r.out}`);
    }
    assert.equal(backend.requests.length, served, 'nothing of the revoked client reached the backend');
    // a refusal's log line may come after its answer (the log is written asynchronously): wait for the fourth
    await proxy.waitForLog(() => proxy.logs.slice(mark).filter((l) => l.msg === 'client refused').length >= 4, 15_000);
    const refusals = proxy.logs.slice(mark).filter((l) => l.msg === 'client refused');
    assert.ok(refusals.length >= 4 && refusals.every((l) => l.reason === 'revoked'), JSON.stringify(refusals));
  });
}

test('with ticket keys kept across the trust change, a resumed session is re-checked and refused', async () => {
  const { pki, backend, configFile } = await setUp(1);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }) });
  const proxy = await startProxy({ config: (await loadConfig(configFile)).config, logger, rotateTicketKeysOnTrustChange: false });
  cleanups.push(() => proxy.stop(1000));
  const sess = join(pki.dir, 'alice.sess');
  const first = await sClientRequest(proxy.address.port, pki, 'alice', { out: sess });
  assert.equal(first.status, 'HTTP/1.1 200 OK', first.out);
  await writeCrl(pki.dir, 'client-ca.crl', pki.pki.clientCa, [pki.pki.clients.alice]);
  await waitFor(() => lines.some((l) => l.msg === 'client trust reloaded'), 'the client trust reload', 15_000);
  const served = backend.requests.length;
  const r = await sClientRequest(proxy.address.port, pki, 'alice', { in: sess });
  assert.ok(r.reused, 'the session resumed (the keys were kept)');
  assert.match(r.status, /^HTTP\/1\.1 400/, r.out);
  assert.equal(backend.requests.length, served);
  assert.ok(lines.some((l) => l.msg === 'client refused' && l.reason === 'revoked'));
});

test('after edge.clientAuth.ca is replaced by another CA, a returning client of the old CA cannot resume (its earlier check is not reused)', async () => {
  const { pki, backend, configFile } = await setUp(1);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }) });
  const proxy = await startProxy({ config: (await loadConfig(configFile)).config, logger, rotateTicketKeysOnTrustChange: false });
  cleanups.push(() => proxy.stop(1000));
  const sess = join(pki.dir, 'alice-ca.sess');
  // twice: the second connection is a returning client whose CA check was remembered
  for (const s of [{ out: sess }, { in: sess, out: sess }]) {
    const r = await sClientRequest(proxy.address.port, pki, 'alice', s);
    assert.equal(r.status, 'HTTP/1.1 200 OK', r.out);
  }
  const other = await issueCertificate({ subject: 'CN=another client CA', ca: true });
  const caFile = join(pki.dir, 'client-ca.crt');
  await writeFile(`${caFile}.tmp`, other.certPem);
  await rename(`${caFile}.tmp`, caFile);
  await waitFor(() => lines.some((l) => l.msg === 'client trust reloaded'), 'the client trust reload', 15_000);
  const served = backend.requests.length;
  const r = await sClientRequest(proxy.address.port, pki, 'alice', { in: sess });
  assert.ok(r.reused, 'the session resumed (the keys were kept)');
  assert.match(r.status, /^HTTP\/1\.1 400/, r.out);
  assert.equal(backend.requests.length, served, 'nothing reached the backend');
  assert.ok(lines.some((l) => l.msg === 'client refused' && l.reason === 'unknown CA'), JSON.stringify(lines.filter((l) => l.msg === 'client refused')));
});
