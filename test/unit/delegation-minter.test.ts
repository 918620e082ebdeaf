import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { isCountersignError, type ErrorCode } from '../../src/errors.js';
import { CONTEXT_BYTES_ESTIMATE, DelegationMinter, RENEW_AFTER_FRACTION } from '../../src/delegation/delegation-minter.js';
import { NATIVE_GARBAGE_BYTES, nativeGarbageCollections, nativeGarbagePending } from '../../src/native-garbage.js';
import { DEFAULT_DELEGATION_LIMITS } from '../../src/config/index.js';
import { describeCertificate } from '../../src/pki/certificate-info.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { loadSigningCa, type KeyMaterial } from '../../src/pki/key-material.js';
import { signingCa } from '../helpers/delegation-pki.js';
import { toPem } from '../../src/pki/pem.js';

const HOUR = 3600_000;
let ca: IssuedCertificate;
let material: KeyMaterial;
let clientCa: IssuedCertificate;
const clients: IssuedCertificate[] = [];
const minters: DelegationMinter[] = [];

function minter(opts: { ttlMs?: number; cacheSize?: number; cacheMemoryBytes?: number } = {}): DelegationMinter {
  const m = new DelegationMinter({ ca: material, keyPoolSize: 2, ...DEFAULT_DELEGATION_LIMITS, ...opts });
  minters.push(m);
  return m;
}
const info = (c: IssuedCertificate) => describeCertificate(c.cert.raw);
const spkiOf = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');

function expectCode(fn: () => unknown, code: ErrorCode, message?: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isCountersignError(err, code), `expected ${code}, got ${(err as Error).message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  ({ ca, material } = await signingCa());
  clientCa = await issueCertificate({ subject: 'CN=client CA', ca: true });
  for (const name of ['alice', 'bob', 'carol']) clients.push(await issueCertificate({ subject: `CN=${name}`, issuer: clientCa }));
});
after(() => { for (const m of minters) m.stop(); });

test('a cache hit returns the same credentials object', () => {
  const m = minter();
  const first = m.credentialsFor(info(clients[0]), { namesVouched: true });
  const second = m.credentialsFor(info(clients[0]), { namesVouched: true });
  assert.equal(second, first);
  const { estimatedBytes, maxEntries, budgetBytes, pooledKeys, ...counts } = m.stats();
  assert.deepEqual(counts, { hits: 1, misses: 1, renewals: 0, size: 1 });
  assert.ok(maxEntries > 0 && budgetBytes > 0 && pooledKeys >= 0);
  assert.ok(estimatedBytes > 36 * 1024, 'an entry is weighed with its TLS context');
});

test('a vouched and an unvouched minting of one certificate are two entries that never mix; forget drops both', () => {
  const m = minter();
  const alice = info(clients[0]);
  const vouched = m.credentialsFor(alice, { namesVouched: true });
  const unvouched = m.credentialsFor(alice, { namesVouched: false });
  assert.notEqual(unvouched, vouched);
  assert.equal(new X509Certificate(vouched.certPem).subject, 'CN=alice');
  assert.equal(new X509Certificate(unvouched.certPem).subject, `CN=${alice.identity}`);
  assert.notEqual(spkiOf(unvouched.certPem), spkiOf(vouched.certPem), 'a key of its own');
  // each is cached under its own verdict, whichever came last
  assert.equal(m.credentialsFor(alice, { namesVouched: true }), vouched);
  assert.equal(m.credentialsFor(alice, { namesVouched: false }), unvouched);
  assert.equal(m.stats().size, 2);
  m.forget(alice.certSha256);
  assert.equal(m.stats().size, 0);
  assert.notEqual(m.credentialsFor(alice, { namesVouched: false }), unvouched, 'minted anew after forget');
});

test('different client certificates get different keys, never a shared one', () => {
  const m = minter();
  const creds = clients.map((c) => m.credentialsFor(info(c), { namesVouched: true }));
  assert.equal(new Set(creds.map((c) => c.keyPem)).size, clients.length);
  assert.equal(new Set(creds.map((c) => spkiOf(c.certPem))).size, clients.length);
  for (const c of creds) assert.ok(new X509Certificate(c.certPem).checkPrivateKey(createPrivateKey(c.keyPem)), 'each key matches its own certificate');
  assert.equal(new X509Certificate(creds[0].certPem).checkPrivateKey(createPrivateKey(creds[1].keyPem)), false);
});

test('credentials are renewed once 2/3 of their lifetime has passed', () => {
  const m = minter({ ttlMs: 3 * HOUR });
  const t0 = Date.now();
  const first = m.credentialsFor(info(clients[0]), { namesVouched: true, now: t0 });
  const nb = first.minted.notBefore.getTime();
  const lifetime = first.notAfter.getTime() - nb;
  assert.equal(first.renewAt, nb + lifetime * RENEW_AFTER_FRACTION);
  assert.equal(RENEW_AFTER_FRACTION, 2 / 3);
  assert.equal(m.credentialsFor(info(clients[0]), { namesVouched: true, now: first.renewAt - 1 }), first, 'still fresh just before the renewal point');
  const renewed = m.credentialsFor(info(clients[0]), { namesVouched: true, now: first.renewAt });
  assert.notEqual(renewed, first);
  assert.ok(renewed.notAfter.getTime() > first.notAfter.getTime());
  assert.equal(m.stats().renewals, 1);
  assert.equal(m.credentialsFor(info(clients[0]), { namesVouched: true, now: first.renewAt + 1 }), renewed, 'the renewed credentials are cached');
});

test('the cache is bounded: the least recently used entry is evicted', () => {
  const m = minter({ cacheSize: 2 });
  const a = m.credentialsFor(info(clients[0]), { namesVouched: true });
  m.credentialsFor(info(clients[1]), { namesVouched: true });
  m.credentialsFor(info(clients[0]), { namesVouched: true }); // alice is now the most recently used
  m.credentialsFor(info(clients[2]), { namesVouched: true }); // evicts bob
  assert.equal(m.stats().size, 2);
  assert.equal(m.credentialsFor(info(clients[0]), { namesVouched: true }), a, 'alice survived');
  const misses = m.stats().misses;
  m.credentialsFor(info(clients[1]), { namesVouched: true });
  assert.equal(m.stats().misses, misses + 1, 'bob was evicted and minted again');
});

test('an expired original certificate is refused with ERR_CERT_EXPIRED', async () => {
  const expired = await issueCertificate({ subject: 'CN=expired', issuer: clientCa, notBefore: new Date(Date.now() - 2 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
  expectCode(() => minter().credentialsFor(info(expired), { namesVouched: true }), 'ERR_CERT_EXPIRED', /expired at .*renew/);
});

test('a minted certificate never outlives the original', () => {
  const m = minter({ ttlMs: 3 * HOUR });
  const original = info(clients[0]);
  const nearEnd = original.notAfter.getTime() - 10 * 60_000;
  const creds = m.credentialsFor(original, { namesVouched: true, now: nearEnd });
  assert.equal(creds.notAfter.getTime(), Math.floor(original.notAfter.getTime() / 1000) * 1000);
});

test('loadSigningCa refuses a certificate without CA:TRUE (ERR_CA_NOT_CA)', async () => {
  const leaf = await issueCertificate({ subject: 'CN=not a CA', issuer: clientCa });
  expectCode(() => loadSigningCa({ certPem: leaf.certPem, keyPem: leaf.keyPem, what: 'delegation.ca' }), 'ERR_CA_NOT_CA', /delegation\.ca\.cert: "CN=not a CA" is not a CA certificate/);
  const noBc = await issueCertificate({ subject: 'CN=no basic constraints', omitBasicConstraints: true });
  expectCode(() => loadSigningCa({ certPem: noBc.certPem, keyPem: noBc.keyPem, what: 'delegation.ca' }), 'ERR_CA_NOT_CA');
});

test('loadSigningCa refuses a key that does not belong to the certificate (ERR_KEY_MISMATCH)', async () => {
  const other = await signingCa();
  expectCode(() => loadSigningCa({ certPem: ca.certPem, keyPem: other.ca.keyPem, what: 'delegation.ca' }), 'ERR_KEY_MISMATCH', /delegation\.ca\.key: key does not match/);
});

test('malformed PEM is refused with ERR_PEM_INVALID', () => {
  expectCode(() => loadSigningCa({ certPem: '-----BEGIN CERTIFICATE-----\n@@not base64@@\n-----END CERTIFICATE-----\n', keyPem: ca.keyPem, what: 'delegation.ca' }), 'ERR_PEM_INVALID', /not base64/);
  expectCode(() => loadSigningCa({ certPem: 'just some text', keyPem: ca.keyPem, what: 'delegation.ca' }), 'ERR_PEM_INVALID', /delegation\.ca\.cert: no "-----BEGIN CERTIFICATE-----" block/);
});

test('an unreadable key is refused with ERR_KEY_INVALID', () => {
  expectCode(() => loadSigningCa({ certPem: ca.certPem, keyPem: toPem(Buffer.alloc(3), 'PRIVATE KEY') /* a PEM block that holds no key */, what: 'delegation.ca' }), 'ERR_KEY_INVALID');
});

test('the cache is bounded by memory too: entries past the budget are evicted, least recently used first', () => {
  // room for about two entries with one TLS context each
  const m = minter({ cacheMemoryBytes: 100 * 1024 });
  const build = () => createSecureContext({});
  const a = m.credentialsFor(info(clients[0]), { namesVouched: true });
  a.secureContext({ upstream: 'up', digest: 'd1' }, build);
  m.credentialsFor(info(clients[1]), { namesVouched: true }).secureContext({ upstream: 'up', digest: 'd1' }, build);
  m.credentialsFor(info(clients[0]), { namesVouched: true }); // alice most recently used
  m.credentialsFor(info(clients[2]), { namesVouched: true }).secureContext({ upstream: 'up', digest: 'd1' }, build); // over budget: bob goes
  assert.equal(m.stats().size, 2);
  assert.ok(m.stats().estimatedBytes <= 100 * 1024);
  assert.equal(m.credentialsFor(info(clients[0]), { namesVouched: true }), a, 'alice survived');
  // a second upstream context makes alice heavier: the budget now has room for her alone
  a.secureContext({ upstream: 'other', digest: 'd1' }, build);
  assert.equal(m.stats().size, 1);
  assert.equal(m.credentialsFor(info(clients[0]), { namesVouched: true }), a);
});

/**
 * Native garbage (src/native-garbage.ts) is what a cache lets go of, never what
 * it builds and keeps: a requested collection is a whole mark-compact of the
 * heap, worth its pause only when there are dropped contexts to free.
 */
test('building and keeping TLS contexts is no native garbage; replacing, evicting or forgetting them is', () => {
  const m = minter({ cacheSize: 2 });
  const build = () => createSecureContext({});
  const collections = nativeGarbageCollections();
  const pending = nativeGarbagePending();
  const a = m.credentialsFor(info(clients[0]), { namesVouched: true });
  a.secureContext({ upstream: 'be', digest: 'd1' }, build);
  // a second upstream's context re-weighs the entry (delete and set again in the LRU): still kept
  a.secureContext({ upstream: 'other', digest: 'd1' }, build);
  m.credentialsFor(info(clients[1]), { namesVouched: true }).secureContext({ upstream: 'be', digest: 'd1' }, build);
  assert.equal(nativeGarbagePending(), pending, 'contexts built and cached are not garbage');
  a.secureContext({ upstream: 'be', digest: 'd2' }, build);
  assert.equal(nativeGarbagePending(), pending + CONTEXT_BYTES_ESTIMATE, 'the replaced context is');
  m.credentialsFor(info(clients[2]), { namesVouched: true }); // evicts alice and her two contexts (bob was used after her)
  assert.equal(m.stats().size, 2);
  const again = m.credentialsFor(info(clients[0]), { namesVouched: true }); // alice again: evicts bob and his one
  assert.equal(nativeGarbagePending(), pending + 4 * CONTEXT_BYTES_ESTIMATE, 'evicted entries leave their contexts');
  again.secureContext({ upstream: 'be', digest: 'd2' }, build);
  m.forget(info(clients[0]).certSha256);
  assert.equal(nativeGarbagePending(), pending + 5 * CONTEXT_BYTES_ESTIMATE, 'so does a forgotten (revoked) one');
  assert.equal(nativeGarbageCollections(), collections, 'far below the threshold: no collection asked for');
});

test('an upstream context is reused while its settings digest holds and rebuilt (replaced, not added) when it changes', () => {
  const m = minter();
  let built = 0;
  const build = () => { built++; return createSecureContext({}); };
  const a = m.credentialsFor(info(clients[0]), { namesVouched: true });
  const first = a.secureContext({ upstream: 'be', digest: 'old CA' }, build);
  assert.equal(a.secureContext({ upstream: 'be', digest: 'old CA' }, build), first, 'equal settings reuse the context');
  const second = a.secureContext({ upstream: 'be', digest: 'new CA' }, build);
  assert.notEqual(second, first, 'changed settings never reuse it');
  assert.equal(built, 2);
  const weight = a.estimatedBytes;
  assert.equal(a.secureContext({ upstream: 'be', digest: 'new CA' }, build), second);
  a.secureContext({ upstream: 'be', digest: 'old CA' }, build);
  assert.equal(a.estimatedBytes, weight, 'one context per upstream, whatever its history');
});

test('a context\'s native memory is counted toward a collection when the cache lets its entry go, not while the cache fills', () => {
  const upstream = { upstream: 'backend', digest: 'settings' };
  const base = info(clients[0]);
  const identities = Math.ceil(NATIVE_GARBAGE_BYTES / CONTEXT_BYTES_ESTIMATE) + 20;
  const asFresh = (i: number) => ({ ...base, certSha256: i.toString(16).padStart(64, '0') });
  const before = nativeGarbageCollections();
  const filling = minter({ cacheSize: identities + 10, cacheMemoryBytes: 1 << 30 });
  for (let i = 0; i < identities; i++) filling.credentialsFor(asFresh(i), { namesVouched: true }).secureContext(upstream, () => createSecureContext({}));
  assert.equal(filling.stats().size, identities);
  assert.equal(nativeGarbageCollections(), before, 'every context is still cached: nothing to collect');
  const evicting = minter({ cacheSize: 5, cacheMemoryBytes: 1 << 30 });
  for (let i = 0; i < identities; i++) evicting.credentialsFor(asFresh(i), { namesVouched: true }).secureContext(upstream, () => createSecureContext({}));
  assert.ok(nativeGarbageCollections() > before, 'contexts the cache let go of ask for a collection');
});
