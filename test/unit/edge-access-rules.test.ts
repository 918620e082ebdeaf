/**
 * Edge access rules: compile + match over real (in-memory) certificates, the
 * SPIFFE ID parser and wildcard, the schema's refusals (what `check` says),
 * and property tests for the parsers of outside input (SPIFFE patterns from
 * config, names from client certificates).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AccessRules, compileAccessRule } from '../../src/edge/access-rules.js';
import { parseConfigText, ConfigError } from '../../src/config/index.js';
import { certificateNames, describeCertificate, parseSpiffeId, parseSpiffePattern, spiffeMatches, type CertificateInfo } from '../../src/pki/index.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { isCountersignError } from '../../src/errors.js';

let ca: IssuedCertificate;
let alice: CertificateInfo;
let bob: CertificateInfo;
let workload: CertificateInfo;

before(async () => {
  ca = await issueCertificate({ subject: 'CN=test CA', ca: true });
  alice = describeCertificate((await issueCertificate({
    subject: 'CN=alice, OU=payments, OU=ops, O=Example Corp', issuer: ca,
    dnsNames: ['Alice.Example.com'], emails: ['alice@Example.COM'],
  })).cert);
  bob = describeCertificate((await issueCertificate({ subject: 'CN=bob, O=Other', issuer: ca })).cert);
  workload = describeCertificate((await issueCertificate({ subject: 'CN=api', issuer: ca, uris: ['spiffe://corp/ns/db/sa/api'] })).cert);
});

test('certificate names: every CN, OU and O of the subject, and DNS, email and URI subjectAltNames', () => {
  const n = certificateNames(alice.fields);
  assert.deepEqual(n.cn, ['alice']);
  assert.deepEqual(n.ou, ['payments', 'ops']);
  assert.deepEqual(n.o, ['Example Corp']);
  assert.deepEqual(n.dns, ['alice.example.com']);
  assert.deepEqual(n.email, ['alice@Example.COM']);
  assert.deepEqual(certificateNames(workload.fields).uri, ['spiffe://corp/ns/db/sa/api']);
});

test('any listed value admits: cn, ou (any of several), o, dns, email, identities', () => {
  const allows = (allow: object, who: CertificateInfo) => compileAccessRule(allow, 'edge.allow').allows(who, true);
  assert.ok(allows({ cn: ['carol', 'alice'] }, alice));
  assert.ok(!allows({ cn: ['Alice'] }, alice), 'cn is compared exactly');
  assert.ok(allows({ ou: ['ops'] }, alice), 'the second OU counts');
  assert.ok(allows({ o: ['Example Corp'] }, alice));
  assert.ok(!allows({ o: ['Example'] }, alice));
  assert.ok(allows({ dns: ['ALICE.example.com.'] }, alice), 'DNS names are case-insensitive');
  assert.ok(allows({ email: ['alice@example.com'] }, alice), 'the email domain is case-insensitive');
  assert.ok(!allows({ email: ['Alice@example.com'] }, alice), 'the local part is not');
  assert.ok(allows({ identities: [bob.identity] }, bob));
  assert.ok(!allows({ identities: [bob.identity] }, alice));
  assert.ok(allows({ cn: ['nobody'], o: ['Other'] }, bob), 'one matching list is enough');
  assert.ok(!allows({ cn: ['nobody'], o: ['nobody'] }, bob));
});

test('an anonymous client matches no rule', () => {
  assert.equal(compileAccessRule({ cn: ['alice'] }, 'edge.allow').allows(undefined, false), false);
});

test('names no CA vouched for match no rule on names; the identity still does', () => {
  for (const allow of [{ cn: ['alice'] }, { ou: ['ops'] }, { o: ['Example Corp'] }, { dns: ['alice.example.com'] }, { email: ['alice@example.com'] }]) {
    const rule = compileAccessRule(allow, 'edge.allow');
    assert.equal(rule.allows(alice, true), true, `${JSON.stringify(allow)} vouched`);
    assert.equal(rule.allows(alice, false), false, `${JSON.stringify(allow)} not vouched`);
  }
  assert.equal(compileAccessRule({ uri: ['spiffe://corp/ns/db/sa/api'] }, 'r').allows(workload, false), false);
  const both = compileAccessRule({ cn: ['nobody'], identities: [alice.identity] }, 'r');
  assert.equal(both.allows(alice, false), true, 'identities match whoever holds the key');
  const route = { upstream: 'a' };
  const rules = new AccessRules({ edge: { allow: { cn: ['alice'] } }, routes: [route] } as never);
  assert.equal(rules.refusedBy(route as never, alice, true), undefined);
  assert.equal(rules.refusedBy(route as never, alice, false), 'edge.allow');
});

test('uri: an exact SPIFFE ID, or a trailing /* for exactly one more segment', () => {
  const allows = (uri: string[]) => compileAccessRule({ uri }, 'r').allows(workload, true);
  assert.ok(allows(['spiffe://corp/ns/db/sa/api']));
  assert.ok(allows(['spiffe://corp/ns/db/sa/*']));
  assert.ok(!allows(['spiffe://corp/ns/db/*']), 'one segment only, not two');
  assert.ok(!allows(['spiffe://corp/ns/db/sa/api/*']), 'the wildcard needs a segment');
  assert.ok(!allows(['spiffe://other/ns/db/sa/*']));
});

test('a route rule replaces edge.allow; routes without one take it; none means no rule', () => {
  const config = { edge: { allow: { cn: ['alice'] } }, routes: [{ upstream: 'a', allow: { cn: ['bob'] } }, { upstream: 'b' }] } as never;
  const rules = new AccessRules(config);
  const [r0, r1] = (config as { routes: never[] }).routes;
  assert.equal(rules.refusedBy(r0, alice, true), 'routes[0].allow');
  assert.equal(rules.refusedBy(r0, bob, true), undefined);
  assert.equal(rules.refusedBy(r1, alice, true), undefined);
  assert.equal(rules.refusedBy(r1, bob, true), 'edge.allow');
  const none = new AccessRules({ edge: {}, routes: [{ upstream: 'a' }] } as never);
  assert.equal(none.refusedBy({ upstream: 'a' } as never, bob, true), undefined, 'an unknown route object has no rule');
});

test('compiling a rule that can never match throws ERR_CONFIG_INVALID', () => {
  for (const bad of [{}, { cn: [] }, { uri: ['spiffe://Corp/x'] }]) {
    assert.throws(() => compileAccessRule(bad, 'routes[0].allow'), (e) => isCountersignError(e) && e.code === 'ERR_CONFIG_INVALID' && e.message.startsWith('routes[0].allow'));
  }
});

const config = (allow: string, mode = 'require', ca = true) => `
edge:
  certificates: [{ cert: e.crt, key: e.key }]
  clientAuth: { mode: ${mode}${ca ? ', ca: ca.crt' : ''} }
delegation: { ca: { cert: d.crt, key: d.key } }
upstreams: { kes: { servers: ["127.0.0.1:7373"], ca: b.crt } }
routes:
  - upstream: kes
    allow: ${allow}
`;
function problems(text: string): string[] {
  try { parseConfigText(text, '/etc/cs/countersign.yaml'); } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return [];
}

test('check refuses rules that can never match: an empty list, no list, a malformed SPIFFE ID, a wildcard elsewhere', () => {
  assert.deepEqual(problems(config('{ cn: [alice], uri: ["spiffe://corp/ns/db/*"] }')), []);
  assert.match(problems(config('{ cn: [] }')).join('\n'), /routes\[0\]\.allow\.cn: an empty cn list can never match/);
  assert.match(problems(config('{}')).join('\n'), /routes\[0\]\.allow: an allow rule with no list can never match/);
  const spiffe = [
    ['https://corp/x', /starts with spiffe:\/\//], ['spiffe://Corp/x', /trust domain/], ['spiffe://corp/a//b', /empty segment/],
    ['spiffe://corp/a/', /empty segment/], ['spiffe://corp/../b', /".." segment/], ['spiffe://corp/a%2Fb', /path segment/],
    ['spiffe://corp:443/a', /trust domain/], ['spiffe://corp/*/b', /only a last path segment/], ['spiffe://corp/a*', /only a last path segment/],
    ['spiffe://corp/**', /only a last path segment/], ['spiffe:///a', /trust domain is empty/], ['spiffe://corp/a?x=1', /path segment/],
  ] as const;
  for (const [uri, why] of spiffe) {
    const p = problems(config(`{ uri: ["${uri}"] }`)).join('\n');
    assert.match(p, /routes\[0\]\.allow\.uri\[0\]: .* is not a SPIFFE ID/, uri);
    assert.match(p, why, uri);
  }
  assert.match(problems(config('{ dns: ["*.example.com"] }')).join('\n'), /no wildcard/);
  assert.match(problems(config('{ identities: [abc] }')).join('\n'), /64 lowercase hex/);
  assert.match(problems(config('{ cn: [alice], bogus: [x] }')).join('\n'), /bogus/);
});

test('with clientAuth.mode any and no ca, only identities may admit (no CA vouches for any name)', () => {
  assert.match(problems(config('{ cn: [alice] }', 'any', false)).join('\n'), /routes\[0\]\.allow\.cn: with edge\.clientAuth\.mode: any and no edge\.clientAuth\.ca, no CA vouches for any cn .* can never match; use allow\.identities/);
  assert.deepEqual(problems(config(`{ identities: ["${'a'.repeat(64)}"] }`, 'any', false)), []);
  // with a ca, a rule on names admits the clients that CA vouches for (and no self-named one)
  assert.deepEqual(problems(config('{ cn: [alice] }', 'any')), []);
});

// ---- property tests: the parsers of outside input ----

const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
const trustDomain = fc.stringMatching(/^[a-z0-9._-]{1,20}$/);
const spiffeId = fc.tuple(trustDomain, fc.array(segment, { maxLength: 5 })).map(([td, segs]) => `spiffe://${td}${segs.map((s) => '/' + s).join('')}`);

test('property: every well-formed SPIFFE ID parses back to its parts', () => {
  fc.assert(fc.property(trustDomain, fc.array(segment, { maxLength: 6 }), (td, segs) => {
    const id = `spiffe://${td}${segs.map((s) => '/' + s).join('')}`;
    assert.deepEqual(parseSpiffeId(id), { trustDomain: td, segments: segs });
  }));
});

test('property: the parsers never throw on any text, and what they accept is a SPIFFE ID (or one with a trailing /*)', () => {
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), spiffeId.map((s) => s + '/*'), spiffeId), (s) => {
    const id = parseSpiffeId(s);
    if (!('error' in id)) assert.equal(`spiffe://${id.trustDomain}${id.segments.map((x) => '/' + x).join('')}`, s);
    const p = parseSpiffePattern(s);
    if (!('error' in p)) assert.ok(!('error' in parseSpiffeId(p.wildcard ? s.slice(0, -2) : s)));
  }), { numRuns: 2000 });
});

test('property: an exact pattern matches only itself; a wildcard matches exactly its one-segment children', () => {
  fc.assert(fc.property(spiffeId, spiffeId, segment, (a, b, seg) => {
    const exact = parseSpiffePattern(a);
    assert.ok(!('error' in exact));
    assert.equal(spiffeMatches(exact, b), a === b);
    const wild = parseSpiffePattern(a + '/*');
    assert.ok(!('error' in wild));
    assert.ok(spiffeMatches(wild, `${a}/${seg}`));
    assert.ok(!spiffeMatches(wild, a), 'not the parent itself');
    assert.ok(!spiffeMatches(wild, `${a}/${seg}/${seg}`), 'not two segments');
    assert.equal(spiffeMatches(wild, b), b.startsWith(a + '/') && !b.slice(a.length + 1).includes('/'));
  }), { numRuns: 1000 });
});

test('property: a wildcard never matches a URI that is not a SPIFFE ID below it', () => {
  fc.assert(fc.property(spiffeId, fc.string({ maxLength: 20 }), (a, tail) => {
    const wild = parseSpiffePattern(a + '/*');
    assert.ok(!('error' in wild));
    const uri = `${a}/${tail}`;
    if (spiffeMatches(wild, uri)) assert.ok(!('error' in parseSpiffeId(uri)), uri);
  }), { numRuns: 2000 });
});

test('property: certificate names come out as issued, for any printable subject values and SANs', async () => {
  const value = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,15}[A-Za-z0-9]$/);
  await fc.assert(fc.asyncProperty(value, value, fc.array(value, { maxLength: 2 }), fc.array(spiffeId, { maxLength: 2 }), async (cn, o, ous, uris) => {
    const subject = [`CN=${cn}`, ...ous.map((u) => `OU=${u}`), `O=${o}`].join(', ');
    const info = describeCertificate((await issueCertificate({ subject, issuer: ca, uris })).cert);
    const n = certificateNames(info.fields);
    assert.deepEqual(n.cn, [cn]);
    assert.deepEqual(n.ou, ous);
    assert.deepEqual(n.o, [o]);
    assert.deepEqual(n.uri, uris);
    const rule = compileAccessRule({ cn: [cn] }, 'edge.allow');
    assert.ok(rule.allows(info, true));
    if (uris.length) assert.ok(compileAccessRule({ uri: [uris[uris.length - 1]] }, 'edge.allow').allows(info, true));
  }), { numRuns: 40 });
});

test('property: certificate names never throw on a random subjectAltName extension body', async () => {
  const base = describeCertificate((await issueCertificate({ subject: 'CN=x', issuer: ca, dnsNames: ['x.example'] })).cert);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
    const fields = { ...base.fields, extensions: [{ oid: '2.5.29.17', critical: false, value: Buffer.from(bytes), der: Buffer.alloc(0) }] };
    try { certificateNames(fields); } catch (err) { assert.ok(isCountersignError(err), `not a typed error: ${err}`); }
  }), { numRuns: 2000 });
});
