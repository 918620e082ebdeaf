/**
 * CRLs from distribution points (`edge.clientAuth.revocation.fetch: true`),
 * served by a real nginx over http. The client CA issues an intermediate
 * whose certificate names the root's CRL URL; the intermediate issues carol
 * and dave, whose certificates name the intermediate's CRL URL. A client is
 * served once its CRLs are fetched; a CRL that revokes carol, published at the
 * distribution point, closes her open connection within the refresh interval
 * and refuses her new ones; a CRL with a bad signature or a stale one is
 * refused and the last good one kept; a restart serves from the state
 * directory while the distribution point answers 404; a root CRL that revokes
 * the intermediate closes dave's open connection.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { askOnSocket as ask, tlsClient, readUntilClose } from '../helpers/e2e.js';
import { startNginx, type RunningNginx } from '../helpers/nginx.js';
import { crlPem } from '../helpers/crl.js';
import { runCli } from '../helpers/proxy-process.js';
import { adminJson } from '../helpers/admin-client.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';

let pki: TestPki;
let nginx: RunningNginx;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let configFile: string;
let intermediate: IssuedCertificate;
let carol: IssuedCertificate;
let www: string;
const REFRESH = '1s';

async function publish(name: string, pem: string): Promise<void> {
  await writeFile(join(www, `${name}.tmp`), pem);
  await rename(join(www, `${name}.tmp`), join(www, name));
}

async function writeLeaf(name: string, crlUrl: string): Promise<IssuedCertificate> {
  const leaf = await issueCertificate({ subject: `CN=${name}, O=countersign test`, issuer: intermediate, crlUrls: [crlUrl] });
  await writeFile(join(pki.dir, `${name}.crt`), leaf.certPem + intermediate.certPem);
  await writeFile(join(pki.dir, `${name}.key`), leaf.keyPem, { mode: 0o600 });
  return leaf;
}

before(async () => {
  pki = await makePki();
  nginx = await startNginx({ http: ({ port, dir }) => `server { listen 127.0.0.1:${port}; root ${dir}/www; }` });
  www = join(nginx.dir, 'www');
  await mkdir(www);
  const base = `http://127.0.0.1:${nginx.port}`;
  intermediate = await issueCertificate({ subject: 'CN=countersign test intermediate', ca: true, issuer: pki.pki.clientCa, crlUrls: [`${base}/root.crl`] });
  carol = await writeLeaf('carol', `${base}/intermediate.crl`);
  await writeLeaf('dave', `${base}/intermediate.crl`);
  await publish('root.crl', await crlPem(pki.pki.clientCa));
  await publish('intermediate.crl', await crlPem(intermediate));
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' }, {
    clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, revocation: { fetch: true, refreshInterval: REFRESH, timeout: '3s' } },
  }) as Record<string, unknown>;
  config.stateDir = join(pki.dir, 'state');
  config.admin = { listen: join(pki.dir, 'admin.sock') };
  configFile = await writeConfig(pki.dir, config);
  proxy = await startProxyProcess(configFile);
});
after(async () => { await proxy?.stop(); await backend?.close(); await nginx?.stop(); });

const connect = (who: string) => tlsClient(proxy.port, pki.dir, who, { ALPNProtocols: ['http/1.1'] });
async function once(who: string, path: string): Promise<string> {
  const s = await connect(who);
  try { return await ask(s, path); } finally { s.destroy(); }
}
const refusalOf = (who: string, since: number) => proxy.waitForLog((l) => l.msg === 'client refused' && proxy.logs.indexOf(l) >= since && new RegExp(`CN=${who}`).test(String(l.subject)), 30_000);

let carolOpen: TLSSocket;
let daveOpen: TLSSocket;

test('a client is served once the CRLs of its chain are fetched from their distribution points', async () => {
  carolOpen = await connect('carol');
  assert.equal(await ask(carolOpen, '/carol-first'), 'HTTP/1.1 200 OK');
  daveOpen = await connect('dave');
  assert.equal(await ask(daveOpen, '/dave-first'), 'HTTP/1.1 200 OK');
  const fetched = proxy.logs.filter((l) => l.msg === 'CRL fetched from its distribution point').map((l) => l.url);
  assert.deepEqual(new Set(fetched), new Set([`http://127.0.0.1:${nginx.port}/root.crl`, `http://127.0.0.1:${nginx.port}/intermediate.crl`]));
});

test('countersign certs status shows each distribution point with its freshness; /readyz is ready', async () => {
  const r = await runCli(['certs', 'status', '--config', configFile, '--json']);
  const rows = (JSON.parse(r.stdout) as { rows: { kind: string; names: string; where: string; notAfter?: string; note?: string }[] }).rows.filter((x) => x.kind === 'revocation (crl-dp)');
  assert.deepEqual(new Set(rows.map((x) => x.where)), new Set([`http://127.0.0.1:${nginx.port}/root.crl`, `http://127.0.0.1:${nginx.port}/intermediate.crl`]), r.stdout);
  for (const row of rows) { assert.ok(row.notAfter, 'the nextUpdate is shown'); assert.equal(row.note, undefined, 'fresh'); }
  assert.equal((await adminJson(join(pki.dir, 'admin.sock'), '/readyz')).status, 200);
});

test('a CRL revoking carol at the distribution point closes her open connection within the refresh interval and refuses her', async (t) => {
  const closed = readUntilClose(carolOpen);
  const published = performance.now();
  await publish('intermediate.crl', await crlPem(intermediate, [carol]));
  await closed;
  t.diagnostic(`closed ${Math.round(performance.now() - published)} ms after the CRL was published (refresh interval ${REFRESH})`);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'revoked');
  assert.match(String(line.subject), /CN=carol/);
  const mark = proxy.logs.length;
  assert.match(await once('carol', '/carol-again'), /^HTTP\/1\.1 400/);
  assert.equal((await refusalOf('carol', mark)).reason, 'revoked');
  assert.equal(await ask(daveOpen, '/dave-still'), 'HTTP/1.1 200 OK');
  assert.equal(backend.requests.filter((r) => r.url === '/carol-again').length, 0);
});

for (const bad of ['a bad signature', 'a stale nextUpdate'] as const) {
  test(`a CRL with ${bad} is refused with a warning and the last good one stays in use`, async () => {
    const mark = proxy.logs.length;
    const pem = bad === 'a bad signature'
      ? await crlPem(await issueCertificate({ subject: 'CN=countersign test intermediate', ca: true })) // the intermediate's name, another key
      : await crlPem(intermediate, [], { thisUpdate: new Date(Date.now() - 7200_000), nextUpdate: new Date(Date.now() - 3600_000) });
    await publish('intermediate.crl', pem);
    const warn = await proxy.waitForLog((l) => l.msg === 'CRL distribution point failed; the last good CRL stays in use' && proxy.logs.indexOf(l) >= mark, 30_000);
    assert.match(String(warn.reason), bad === 'a bad signature' ? /signature does not verify/ : /stale/);
    // the last good CRL (revoking carol) still applies; dave is still served
    assert.match(await once('carol', '/carol-bad'), /^HTTP\/1\.1 400/);
    assert.equal((await refusalOf('carol', mark)).reason, 'revoked');
    assert.equal(await once('dave', '/dave-bad'), 'HTTP/1.1 200 OK');
  });
}

test('after a restart the CRLs kept in the state directory are used while the distribution points answer 404', async () => {
  daveOpen.destroy();
  await rename(join(www, 'intermediate.crl'), join(www, 'intermediate.crl.away'));
  await rename(join(www, 'root.crl'), join(www, 'root.crl.away'));
  await proxy.stop();
  proxy = await startProxyProcess(configFile);
  const mark = proxy.logs.length;
  assert.equal(await once('dave', '/dave-restarted'), 'HTTP/1.1 200 OK');
  assert.match(await once('carol', '/carol-restarted'), /^HTTP\/1\.1 400/);
  assert.equal((await refusalOf('carol', mark)).reason, 'revoked', 'refused by the stored CRL, not for want of one');
  await proxy.waitForLog((l) => l.msg === 'CRL distribution point failed; the last good CRL stays in use' && /404/.test(String(l.reason)), 30_000);
});

test('a root CRL revoking the intermediate, fetched from its distribution point, closes the connections of its leaves', async () => {
  await rename(join(www, 'intermediate.crl.away'), join(www, 'intermediate.crl'));
  daveOpen = await connect('dave');
  assert.equal(await ask(daveOpen, '/dave-open'), 'HTTP/1.1 200 OK');
  const closed = readUntilClose(daveOpen);
  await publish('root.crl', await crlPem(pki.pki.clientCa, [intermediate]));
  await closed;
  const mark = proxy.logs.length;
  assert.match(await once('dave', '/dave-after'), /^HTTP\/1\.1 400/);
  assert.equal((await refusalOf('dave', mark)).reason, 'revoked');
});
