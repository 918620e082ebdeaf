/**
 * Round-trip properties, one per identity-header format (fast-check): for
 * random certificates — random subjects (CN, O, multi-valued RDNs, any Unicode
 * but control characters), random DNS/URI SANs full of XFCC delimiters, random
 * chains — what the proxy's encoder writes, the backend's decoder reads back:
 * the same certificate and chain, or (k8s-front-proxy) the CN and O's the
 * Kubernetes API server would read. And nothing a client certificate holds can
 * add a second XFCC element.
 *
 * The certificates are built here as DER (no signature is needed: header
 * codecs never verify one), so a run takes milliseconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isCountersignError } from '../../src/errors.js';
import {
  formatNameRfc2253, parseXfcc, IDENTITY_HEADER_CODECS, type HeaderSource, type IdentityHeaders,
} from '../../src/identity-headers/index.js';
import { certificatesDer, der, parseCertificateFields } from '../../src/pki/index.js';
import { ALICE_PEM } from '../helpers/golden-certificates.js';

const { TAG, bitString, explicit, octets, oid, seq, tlv, x509Time } = der;

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const OID_OU = '2.5.4.11';
const SPKI = parseCertificateFields(certificatesDer(ALICE_PEM)[0]).spki;

type Rdn = [oid: string, value: string][];
interface CertificateSpec { serial: number; subject: Rdn[]; dns: string[]; uri: string[] }

const name = (rdns: Rdn[]) => seq(...rdns.map((rdn) => tlv(TAG.SET, ...rdn.map(([o, v]) => seq(oid(o), tlv(TAG.UTF8_STRING, Buffer.from(v, 'utf8')))))));

/** A certificate as DER: the fields the codecs read, a dummy signature. */
function certificate(spec: CertificateSpec): Buffer {
  const sanNames = [
    ...spec.dns.map((d) => tlv(0x82, Buffer.from(d, 'latin1'))),
    ...spec.uri.map((u) => tlv(0x86, Buffer.from(u, 'latin1'))),
  ];
  const extensions = sanNames.length ? [explicit(3, seq(seq(oid('2.5.29.17'), octets(seq(...sanNames)))))] : [];
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const tbs = seq(
    explicit(0, Buffer.from([TAG.INTEGER, 1, 2])),
    tlv(TAG.INTEGER, Buffer.from([0x01, (spec.serial >> 8) & 0xff, spec.serial & 0xff])),
    ecdsaSha256,
    name([[[OID_CN, 'round-trip CA']]]),
    seq(x509Time(new Date('2026-01-01T00:00:00Z')), x509Time(new Date('2126-01-01T00:00:00Z'))),
    name(spec.subject),
    SPKI,
    ...extensions,
  );
  return seq(tbs, ecdsaSha256, bitString(Buffer.alloc(8, 0x5a)));
}

// any Unicode text but control characters (those are refused, tested below)
// eslint-disable-next-line no-control-regex
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s));
// printable ASCII, heavy on what XFCC and RFC 2253 must escape or quote
const printable = fc.string({ unit: fc.constantFrom(...'abcz09.-_:/?#[]@!$&\'()*+,;="\\ <>%~'.split('')), minLength: 1, maxLength: 30 })
  .filter((s) => s.trim() === s && !s.includes(' '));
const rdn: fc.Arbitrary<Rdn> = fc.array(fc.tuple(fc.constantFrom(OID_CN, OID_O, OID_OU), text), { minLength: 1, maxLength: 3 });
const spec = (serial: fc.Arbitrary<number>): fc.Arbitrary<CertificateSpec> => fc.record({
  serial,
  subject: fc.array(rdn, { minLength: 1, maxLength: 5 }),
  dns: fc.array(printable, { maxLength: 3 }),
  uri: fc.array(printable, { maxLength: 3 }),
});
/** a leaf and up to three chain certificates, each distinct from the leaf */
const peer = fc.record({ leaf: spec(fc.constant(0)), chain: fc.array(spec(fc.integer({ min: 1, max: 0xffff })), { maxLength: 3 }) })
  .map(({ leaf, chain }) => ({ der: certificate(leaf), chain: chain.map(certificate), leafSpec: leaf }));

/** The headers as a backend receives them: names lower case, a list one line a value. */
function received(headers: IdentityHeaders): HeaderSource {
  const distinct = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v : [v]]));
  return { headers: Object.fromEntries(Object.entries(distinct).map(([k, v]) => [k, v.join(', ')])), headersDistinct: distinct };
}

const RUNS = { numRuns: 200 };

for (const format of ['kes', 'nginx'] as const) {
  test(`${format}: any certificate reads back byte for byte (the leaf only; any header name)`, () => {
    fc.assert(fc.property(peer, fc.constantFrom(undefined, 'X-SSL-Client-Cert', 'ssl_client_cert'), (p, headerName) => {
      const codec = IDENTITY_HEADER_CODECS[format];
      const headers = codec.encoder({ headerName })({ der: p.der, chain: p.chain });
      const got = codec.decode(received(headers), headerName?.toLowerCase());
      assert.deepEqual(got, { der: p.der, chain: [] });
    }), RUNS);
  });
}

test('kes: any bytes at all read back (the codec never looks inside the DER)', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), (bytes) => {
    const codec = IDENTITY_HEADER_CODECS.kes;
    const got = codec.decode(received(codec.encoder()({ der: Buffer.from(bytes) })));
    assert.deepEqual(got?.der, Buffer.from(bytes));
  }), RUNS);
});

test('rfc9440: any certificate and chain read back, renamed or not', () => {
  fc.assert(fc.property(peer, fc.constantFrom(undefined, 'X-Client-Cert'), (p, headerName) => {
    const codec = IDENTITY_HEADER_CODECS.rfc9440;
    const got = codec.decode(received(codec.encoder({ headerName })({ der: p.der, chain: p.chain })), headerName?.toLowerCase());
    assert.deepEqual(got, { der: p.der, chain: p.chain });
  }), RUNS);
});

test('xfcc: any certificate and chain read back; SAN values with , ; = " \\ never add an element and read back as written', () => {
  fc.assert(fc.property(peer, fc.option(printable, { nil: undefined }), (p, by) => {
    const codec = IDENTITY_HEADER_CODECS.xfcc;
    const headers = codec.encoder({ by })({ der: p.der, chain: p.chain });
    assert.deepEqual(codec.decode(received(headers)), { der: p.der, chain: p.chain });
    const elements = parseXfcc(headers['X-Forwarded-Client-Cert'] as string);
    assert.equal(elements.length, 1, 'one client, one element');
    const [element] = elements;
    const values = (key: string) => element.filter(([k]) => k === key).map(([, v]) => v);
    assert.deepEqual(values('by'), by === undefined ? [] : [by]);
    assert.deepEqual(values('dns'), p.leafSpec.dns);
    assert.deepEqual(values('uri'), p.leafSpec.uri.length ? p.leafSpec.uri : ['']);
    // Subject= is OpenSSL's RFC 2253 text quoted as Envoy writes it (not re-escaped): its own \" and \\
    // keep the quoted string closed, and a quoted-string parser reads it with one level of backslashes gone
    const rfc2253 = formatNameRfc2253(parseCertificateFields(p.der).subject);
    assert.deepEqual(values('subject'), [rfc2253.replace(/\\(.)/g, '$1')]);
  }), RUNS);
});

test('k8s-front-proxy: the user is the last CN and the groups every O in order, for any Unicode name', () => {
  fc.assert(fc.property(peer, (p) => {
    const attrs = p.leafSpec.subject.flat();
    const cn = attrs.filter(([o]) => o === OID_CN).at(-1)?.[1];
    const codec = IDENTITY_HEADER_CODECS['k8s-front-proxy'];
    const encode = () => codec.encoder()({ der: p.der });
    if (cn === undefined) {
      assert.throws(encode, (e: unknown) => isCountersignError(e) && e.code === 'ERR_IDENTITY_HEADER_VALUE');
      return;
    }
    assert.deepEqual(codec.decode(received(encode())), { user: cn, groups: attrs.filter(([o]) => o === OID_O).map(([, v]) => v) });
  }), RUNS);
});

test('k8s-front-proxy: a CN or O with a control character is refused with a typed error, never sent', () => {
  fc.assert(fc.property(text, fc.integer({ min: 0, max: 0x1f }), fc.constantFrom(OID_CN, OID_O), (v, ctl, where) => {
    const subject: Rdn[] = where === OID_CN ? [[[OID_CN, v + String.fromCharCode(ctl)]]] : [[[OID_CN, 'alice']], [[OID_O, String.fromCharCode(ctl) + v]]];
    const d = certificate({ serial: 0, subject, dns: [], uri: [] });
    assert.throws(() => IDENTITY_HEADER_CODECS['k8s-front-proxy'].encoder()({ der: d }), (e: unknown) => isCountersignError(e) && e.code === 'ERR_IDENTITY_HEADER_VALUE');
  }), { numRuns: 50 });
});

test('every decoder, fed random header text, returns a value or a typed ERR_HEADER_MALFORMED, never anything else', () => {
  const formats = Object.keys(IDENTITY_HEADER_CODECS) as (keyof typeof IDENTITY_HEADER_CODECS)[];
  fc.assert(fc.property(fc.constantFrom(...formats), fc.array(fc.string({ maxLength: 80 }), { minLength: 1, maxLength: 3 }), (format, lines) => {
    const codec = IDENTITY_HEADER_CODECS[format];
    const name = codec.defaultHeaderName.toLowerCase();
    try {
      codec.decode({ headers: { [name]: lines.join(', ') }, headersDistinct: { [name]: lines, [`${name}-chain`]: lines, 'x-remote-group': lines } });
    } catch (err) {
      assert.ok(isCountersignError(err) && err.code === 'ERR_HEADER_MALFORMED', `${format}: ${String(err)}`);
    }
  }), { numRuns: 500 });
});
