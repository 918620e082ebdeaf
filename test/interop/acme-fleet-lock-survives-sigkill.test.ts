/**
 * The order lock survives its holder dying mid-order: instance A takes the etcd
 * lock and places the order, and the CA's http-01 validation hangs (the L4
 * balancer holds it); instance B, started then, waits for the lock. A is
 * SIGKILLed: its lease expires after lockTtl, B takes the lock, orders, and
 * serves the certificate.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { countLogs, fleetConfig, lockHolderPid, servedFingerprint, type FleetMember } from '../helpers/acme-fleet.js';
import { freePort, waitFor } from '../helpers/edge-tls.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { makePki, startProxyProcess, writeConfig, type TestPki } from '../helpers/proxy-process.js';
import { startTcpBalancer, type TcpBalancer } from '../helpers/tcp-balancer.js';

const DOMAIN = 'killed.countersign.test';

let pki: TestPki;
let etcd: EtcdServer;
let pebble: Pebble;
let balancer: TcpBalancer;
const a: FleetMember = { name: 'a', httpPort: 0 };
const b: FleetMember = { name: 'b', httpPort: 0 };
let files: string[];

before(async () => {
  pki = await makePki();
  etcd = await startEtcd();
  balancer = await startTcpBalancer({ pick: () => undefined }); // a black hole until A is gone
  pebble = await startPebble({ httpPort: balancer.port, tlsPort: await freePort() });
  await pebble.addDomain(DOMAIN);
  const pebbleCaFile = join(pki.dir, 'pebble-https-ca.crt');
  await writeFile(pebbleCaFile, pebble.httpsCa);
  const upstreamPort = await freePort();
  a.httpPort = await freePort();
  b.httpPort = await freePort();
  files = await Promise.all([a, b].map((m) => writeConfig(pki.dir, fleetConfig({ pki, etcd, directoryUrl: pebble.directoryUrl, pebbleCaFile, domain: DOMAIN, httpPort: m.httpPort, upstreamPort, lockTtl: '3s' }), `${m.name}.yaml`)));
});

after(async () => {
  for (const m of [a, b]) await m.proxy?.stop('SIGKILL');
  await balancer?.close();
  await pebble?.stop();
  await etcd?.stop();
});

const diagnostics = () => `\n${[a, b].map((m) => `${m.name}: ${JSON.stringify(m.proxy?.logs.filter((l) => l.component === 'acme'))}`).join('\n')}`;

test('an instance SIGKILLed mid-order loses the lock after its TTL and the other one completes the order', async () => {
  a.proxy = await startProxyProcess(files[0]);
  await a.proxy.waitForLog((l) => l.msg === 'ACME order placed', 30_000);
  // mid-order: the CA is validating A's challenge right now (the balancer holds the connection)
  await waitFor(() => balancer.held > 0, 'the CA to start validating A\'s challenge', 30_000);
  assert.equal(await lockHolderPid(etcd, pebble.directoryUrl, DOMAIN), a.proxy.child.pid, 'A holds the lock');

  b.proxy = await startProxyProcess(files[1]);
  await b.proxy.waitForLog((l) => l.msg === 'ACME order for this domain runs on another instance; waiting for its certificate', 30_000);
  assert.equal(countLogs([b], 'ACME order placed'), 0, 'B does not order while A holds the lock');

  assert.equal(await a.proxy.stop('SIGKILL'), null);
  balancer.setPick(() => b.httpPort);

  const issued = await b.proxy.waitForLog((l) => l.msg === 'ACME certificate issued', 60_000).catch((err) => { throw new Error(`${(err as Error).message}${diagnostics()}`); });
  assert.equal(countLogs([b], 'ACME order placed'), 1, `B placed one order after A died${diagnostics()}`);
  assert.equal(await lockHolderPid(etcd, pebble.directoryUrl, DOMAIN), undefined, 'B released the lock');
  // the certificate B ordered, not the fallback it served while it waited
  const ordered = String(issued.certSha256).replace(/:/g, '').toLowerCase();
  await waitFor(async () => (await servedFingerprint(b.proxy!.port, DOMAIN, pki))?.replace(/:/g, '').toLowerCase() === ordered, `B to serve the certificate it ordered (${ordered})`, 10_000);
});
