/**
 * CRLs fetched from distribution points (src/edge/revocation/distribution-points.ts),
 * from a real HTTP server on loopback whose answer each case sets: a CRL is
 * used only once it is checked (issuer, signature, dates, never older than
 * the one in use), the last good one stays when a fetch fails, and what is
 * kept in the state directory serves a restart.
 */
import 'reflect-metadata';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import { pathCertificate } from '../../src/edge/client-trust.js';
import { DistributionPoints, type DistributionPointsOptions } from '../../src/edge/revocation/distribution-points.js';
import { RevocationStateStore } from '../../src/edge/revocation/state-store.js';
import { crlPem } from '../helpers/crl.js';
import { tempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/wait.js';

let server: Server;
let base: string;
/** what the server answers for each path; absent: 404 */
const answers = new Map<string, { status?: number; body: Buffer | string }>();
let ca: IssuedCertificate;
let impostorCa: IssuedCertificate;

before(async () => {
  ca = await issueCertificate({ subject: 'CN=dp test CA', ca: true });
  impostorCa = await issueCertificate({ subject: 'CN=dp test CA', ca: true }); // same name, another key
  server = createServer((req, res) => {
    const a = answers.get(req.url ?? '');
    if (!a) { res.writeHead(404).end('no such CRL'); return; }
    res.writeHead(a.status ?? 200, { 'content-type': 'application/pkix-crl' }).end(a.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

interface Logged { level: 'info' | 'warn'; msg: string; fields: Record<string, unknown> }

function points(extra: Partial<DistributionPointsOptions> = {}): { dp: DistributionPoints; logs: Logged[]; changes: () => number } {
  const logs: Logged[] = [];
  let changes = 0;
  const dp = new DistributionPoints({
    refreshIntervalMs: 60_000, timeoutMs: 2_000, graceMs: 0,
    logger: {
      info: (fields: object, msg: string) => { logs.push({ level: 'info', msg, fields: fields as Record<string, unknown> }); },
      warn: (fields: object, msg: string) => { logs.push({ level: 'warn', msg, fields: fields as Record<string, unknown> }); },
      error: () => {},
    },
    onChange: () => { changes++; },
    ...extra,
  });
  return { dp, logs, changes: () => changes };
}

/** a client of `ca` whose certificate names `path` on the server as its distribution point */
async function clientAt(path: string, name = 'alice'): Promise<IssuedCertificate> {
  return issueCertificate({ subject: `CN=${name}`, issuer: ca, crlUrls: [`${base}${path}`] });
}
const pathOf = (c: IssuedCertificate) => [pathCertificate(c.cert), pathCertificate(ca.cert)];
const derOf = (pem: string) => pemBlocks(Buffer.from(pem)).find((b) => b.label === 'X509 CRL')!.der;
const revokedIn = (dp: DistributionPoints, c: IssuedCertificate) =>
  dp.current().of(pathCertificate(c.cert).issuerKey).some((crl) => crl.revoked.has(pathCertificate(c.cert).serial));

test('a new client waits for the first fetch; the CRL (DER or PEM) is then in use and a change is announced', async () => {
  const alice = await clientAt('/der.crl');
  const bob = await clientAt('/pem.crl', 'bob');
  answers.set('/der.crl', { body: derOf(await crlPem(ca, [alice])) });
  answers.set('/pem.crl', { body: await crlPem(ca, []) });
  const { dp, changes } = points();
  try {
    const wait = dp.prepare(pathOf(alice));
    assert.ok(wait, 'a point never fetched is waited for');
    await wait;
    assert.equal(revokedIn(dp, alice), true);
    assert.equal(changes(), 1);
    await dp.prepare(pathOf(bob));
    assert.equal(dp.current().crls.length, 2);
    assert.equal(revokedIn(dp, bob), false);
    // once fetched, nothing to wait for
    assert.equal(dp.prepare(pathOf(alice)), undefined);
    assert.deepEqual(dp.status().map((s) => s.kind), ['crl-dp', 'crl-dp']);
  } finally { dp.stop(); }
});

test('a CRL signed by another key under the CA\'s name, a stale one, one from the future and a non-CRL are never used', async () => {
  const cases: Array<[string, Promise<string> | string, RegExp]> = [
    ['/impostor.crl', crlPem(impostorCa, []), /signature does not verify with the key of "CN=dp test CA"/],
    ['/stale.crl', crlPem(ca, [], { thisUpdate: new Date(Date.now() - 7_200_000), nextUpdate: new Date(Date.now() - 3_600_000) }), /stale: its nextUpdate/],
    ['/future.crl', crlPem(ca, [], { thisUpdate: new Date(Date.now() + 3_600_000), nextUpdate: new Date(Date.now() + 7_200_000) }), /thisUpdate .* is ahead of this clock/],
    ['/html.crl', '<html>sign in first</html>', /not a DER or PEM CRL/],
    ['/missing.crl', '', /404/],
  ];
  for (const [path, body, reason] of cases) {
    if (path !== '/missing.crl') answers.set(path, { body: await body });
    const { dp, logs, changes } = points();
    try {
      await dp.prepare(pathOf(await clientAt(path)));
      assert.equal(dp.current().crls.length, 0, path);
      assert.equal(changes(), 0, path);
      const [status] = dp.status();
      assert.equal(status?.state, 'none', path);
      assert.match(String(status?.lastError), reason, path);
      assert.ok(logs.some((l) => l.level === 'warn' && /distribution point failed/.test(l.msg)), path);
    } finally { dp.stop(); }
  }
});

test('the last good CRL stays in use when the point fails, and an older CRL never replaces a newer one', async () => {
  const alice = await clientAt('/flaky.crl');
  answers.set('/flaky.crl', { body: await crlPem(ca, [alice]) });
  const { dp, logs } = points({ refreshIntervalMs: 1_000 });
  try {
    await dp.prepare(pathOf(alice));
    assert.equal(revokedIn(dp, alice), true);
    answers.set('/flaky.crl', { status: 503, body: 'down for maintenance' });
    await waitFor(() => logs.some((l) => l.level === 'warn'), 'a failed refresh');
    assert.equal(revokedIn(dp, alice), true, 'the last good CRL stays in use');
    // an older CRL (a replayed or rolled-back one) that would unrevoke alice
    answers.set('/flaky.crl', { body: await crlPem(ca, [], { thisUpdate: new Date(Date.now() - 600_000) }) });
    const warned = logs.length;
    await waitFor(() => logs.slice(warned).some((l) => /older than the one in use/.test(String(l.fields.reason))), 'the older CRL refused');
    assert.equal(revokedIn(dp, alice), true);
  } finally { dp.stop(); }
});

test('what was fetched is kept in the state directory and serves a restart before any fetch', async () => {
  const temp = await tempDir('countersign-dp-');
  const dir = temp.dir;
  const alice = await clientAt('/kept.crl');
  answers.set('/kept.crl', { body: await crlPem(ca, [alice]) });
  const first = points({ store: new RevocationStateStore(dir) });
  await first.dp.prepare(pathOf(alice));
  first.dp.stop();
  const store = new RevocationStateStore(dir);
  await waitFor(async () => (await store.loadAll()).length === 1, 'the CRL kept in the state directory');
  answers.delete('/kept.crl'); // the point is gone now
  const second = points({ store });
  try {
    await second.dp.restore();
    assert.equal(revokedIn(second.dp, alice), true);
    assert.equal(second.dp.prepare(pathOf(alice)), undefined, 'a restored CRL is not waited for');
  } finally { second.dp.stop(); await temp.remove(); }
});
