/**
 * Two `countersign start` processes sharing ACME storage on one etcd (mTLS,
 * client-cert auth) and one Pebble, behind an L4 balancer for port 80:
 *   - exactly one order, and both serve the same certificate;
 *   - the CA's http-01 validation reaches the instance that did NOT order (the
 *     balancer sends it there on purpose), which answers from etcd;
 *   - the renewal goes through the lock too: one more order, both serve it;
 *   - a certificate written into etcd by someone else is served by both
 *     without a restart (the watch).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { countLogs, etcdKey, fleetConfig, lockHolderPid, servedFingerprint, type FleetMember } from '../helpers/acme-fleet.js';
import { freePort, waitFor } from '../helpers/edge-tls.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { makePki, startProxyProcess, writeConfig, type TestPki } from '../helpers/proxy-process.js';
import { startTcpBalancer, type TcpBalancer } from '../helpers/tcp-balancer.js';

const DOMAIN = 'fleet.countersign.test';
const LIFETIME_S = 30;

let pki: TestPki;
let etcd: EtcdServer;
let pebble: Pebble;
let balancer: TcpBalancer;
const members: FleetMember[] = [];
/** pid of the lock holder when each validation connection arrived, and where it went */
const validations: { holder?: number; to?: string }[] = [];

before(async () => {
  pki = await makePki();
  etcd = await startEtcd();
  balancer = await startTcpBalancer({ pick: () => undefined });
  pebble = await startPebble({ httpPort: balancer.port, tlsPort: await freePort(), certificateValidityPeriodSeconds: LIFETIME_S });
  await pebble.addDomain(DOMAIN);
  const pebbleCaFile = join(pki.dir, 'pebble-https-ca.crt');
  await writeFile(pebbleCaFile, pebble.httpsCa);
  // the validation goes to the instance that does not hold the order lock
  balancer.setPick(async () => {
    const holder = await lockHolderPid(etcd, pebble.directoryUrl, DOMAIN);
    // the holder may be ordering before the other one has logged that it listens
    const other = await waitFor(() => members.find((m) => m.proxy && m.proxy.child.pid !== holder), 'the instance that does not hold the lock', 20_000, 50).catch(() => undefined);
    validations.push({ holder, to: other?.name });
    return other?.httpPort;
  });
  const upstreamPort = await freePort();
  for (const name of ['a', 'b']) members.push({ name, httpPort: await freePort() });
  const files = await Promise.all(members.map((m) => writeConfig(pki.dir, fleetConfig({ pki, etcd, directoryUrl: pebble.directoryUrl, pebbleCaFile, domain: DOMAIN, httpPort: m.httpPort, upstreamPort }), `${m.name}.yaml`)));
  // both at once: they race for the first order
  await Promise.all(files.map(async (f, i) => { members[i].proxy = await startProxyProcess(f); }));
});

after(async () => {
  for (const m of members) await m.proxy?.stop();
  await balancer?.close();
  await pebble?.stop();
  await etcd?.stop();
});

const served = () => Promise.all(members.map((m) => servedFingerprint(m.proxy!.port, DOMAIN, pki)));
async function storedFingerprint(): Promise<string> {
  const v = JSON.parse(await etcd.etcdctl('get', '--print-value-only', etcdKey(pebble.directoryUrl, 'certificates', DOMAIN)));
  return new X509Certificate(v.certPem).fingerprint256;
}
/** orders as the CA counts them: Pebble logs `Added order "…" to the db` for each */
const pebbleOrders = () => (pebble.logs().match(/Added order /g) ?? []).length;
const diagnostics = () => `\nvalidations: ${JSON.stringify(validations)}\n${members.map((m) => `${m.name}: ${JSON.stringify(m.proxy!.logs.filter((l) => l.component === 'acme'))}`).join('\n')}`;

test('two instances on one etcd: one order, both serve the same certificate, the other instance answers the challenge', async () => {
  const [fa, fb] = await waitFor(async () => { const f = await served(); return f.every(Boolean) ? f : undefined; }, 'both instances to serve a certificate', 90_000, 250)
    .catch((err) => { throw new Error(`${(err as Error).message}${diagnostics()}`); });
  assert.equal(fa, fb, 'the same certificate on both');
  assert.equal(fa, await storedFingerprint(), 'the one stored in etcd');
  assert.equal(pebbleOrders(), 1, `exactly one order at the CA${diagnostics()}`);
  assert.equal(countLogs(members, 'ACME order placed'), 1, `exactly one order${diagnostics()}`);
  assert.equal(countLogs(members, 'ACME certificate issued'), 1);
  const orderer = members.find((m) => m.proxy!.logs.some((l) => l.msg === 'ACME order placed'))!;
  const other = members.find((m) => m !== orderer)!;
  // its lines may reach us after what it serves does: waited for, not looked up
  await other.proxy!.waitForLog((l) => l.msg === 'ACME certificate loaded from storage' && l.domain === DOMAIN, 10_000)
    .catch((err) => { throw new Error(`the other one loaded it from etcd: ${(err as Error).message}${diagnostics()}`); });
  await other.proxy!.waitForLog((l) => l.msg === 'answered http-01 validation', 10_000)
    .catch((err) => { throw new Error(`the instance that did not order answered the CA's validation: ${(err as Error).message}${diagnostics()}`); });
  assert.ok(validations.some((v) => v.holder === orderer.proxy!.child.pid && v.to === other.name));
});

test('the renewal goes through the lock too: one more order, and both serve the renewed certificate', async () => {
  const before = (await served())[0];
  const [fa, fb] = await waitFor(async () => { const f = await served(); return f.every((x) => x && x !== before) && f[0] === f[1] ? f : undefined; }, 'both instances to serve the renewed certificate', LIFETIME_S * 3_000, 250)
    .catch((err) => { throw new Error(`${(err as Error).message}${diagnostics()}`); });
  assert.equal(fa, fb);
  assert.equal(fa, await storedFingerprint());
  assert.equal(pebbleOrders(), 2, `one order at the CA for the first certificate, one for the renewal${diagnostics()}`);
  assert.equal(countLogs(members, 'ACME order placed'), 2, `one order for the first certificate, one for the renewal${diagnostics()}`);
  assert.equal(countLogs(members, 'ACME certificate renewed'), 1);
});

test('a certificate written into etcd by another writer is served by both without a restart', async () => {
  const ca = await issueCertificate({ subject: 'CN=operator CA', ca: true });
  const leaf = await issueCertificate({ subject: `CN=${DOMAIN}`, issuer: ca, usage: 'server', dnsNames: [DOMAIN], notAfter: new Date(Date.now() + 86_400_000) });
  const ordersBefore = countLogs(members, 'ACME order placed');
  await etcd.etcdctl('put', etcdKey(pebble.directoryUrl, 'certificates', DOMAIN),
    JSON.stringify({ certPem: leaf.certPem, keyPem: leaf.keyPem, meta: { domain: DOMAIN, directory: pebble.directoryUrl, issuedAt: new Date().toISOString() } }));
  const want = leaf.cert.fingerprint256;
  await waitFor(async () => (await served()).every((f) => f === want), 'both instances to serve the certificate written into etcd', 30_000, 250)
    .catch((err) => { throw new Error(`${(err as Error).message}${diagnostics()}`); });
  assert.equal(countLogs(members, 'ACME order placed'), ordersBefore, 'no order for it');
  assert.equal(pebbleOrders(), ordersBefore);
  for (const m of members) assert.equal(m.proxy!.child.exitCode, null, `${m.name} still runs (no restart)`);
});
