import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { isCountersignError, type ErrorCode } from '../../src/errors.js';
import {
  decodeEscapedPemHeader, decodeRfc9440Header, decodeXfccHeader, parseXfcc, readForwardedCertificate, resolveHeaderSpecs,
} from '../../src/backend/identity-headers.js';
import { sha256 } from '../../src/pki/certificate-info.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { ALICE_PEM, NGINX_ESCAPED_ALICE } from '../helpers/golden-certificates.js';

const ALICE_DER = Buffer.from(new X509Certificate(ALICE_PEM).raw);
const b64 = (b: Buffer) => b.toString('base64');
const escaped = (pem: string) => encodeURIComponent(pem);

function expectCode(fn: () => unknown, code: ErrorCode, message?: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isCountersignError(err, code), `expected ${code}, got ${(err as Error).message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}
const malformed = (fn: () => unknown, message?: RegExp) => expectCode(fn, 'ERR_HEADER_MALFORMED', message);

let intermediate: IssuedCertificate;
before(async () => {
  intermediate = await issueCertificate({ subject: 'CN=intermediate', ca: true });
});

// ---- kes / nginx ----

test('kes: the value nginx sent as $ssl_client_escaped_cert decodes to the certificate', () => {
  assert.deepEqual(decodeEscapedPemHeader(NGINX_ESCAPED_ALICE), ALICE_DER);
});

test('kes: a literal "+" is base64, never a space (decodeURIComponent, not form decoding)', () => {
  assert.ok(ALICE_PEM.includes('+'));
  const halfEscaped = NGINX_ESCAPED_ALICE.replace(/%2B/g, '+');
  assert.notEqual(halfEscaped, NGINX_ESCAPED_ALICE);
  assert.deepEqual(decodeEscapedPemHeader(halfEscaped), ALICE_DER);
});

test('kes: bad percent-encoding, no PEM, or two certificates are malformed', () => {
  malformed(() => decodeEscapedPemHeader('-----BEGIN%ZZCERTIFICATE'), /percent-encoding/);
  malformed(() => decodeEscapedPemHeader('hello'), /no "-----BEGIN CERTIFICATE-----" block/);
  malformed(() => decodeEscapedPemHeader(NGINX_ESCAPED_ALICE + NGINX_ESCAPED_ALICE), /2 certificates/);
  malformed(() => decodeEscapedPemHeader('-----BEGIN%20CERTIFICATE-----%0A%40%40%0A-----END%20CERTIFICATE-----'), /not base64/);
});

test('kes: a repeated header line is refused (KES: too many client certificates)', () => {
  const [spec] = resolveHeaderSpecs('kes');
  malformed(() => readForwardedCertificate({ headers: {}, headersDistinct: { 'x-tls-client-cert': [NGINX_ESCAPED_ALICE, NGINX_ESCAPED_ALICE] } }, spec), /appears 2 times/);
  // without headersDistinct Node joins repeats with ", ": still two certificates
  malformed(() => readForwardedCertificate({ headers: { 'x-tls-client-cert': `${NGINX_ESCAPED_ALICE}, ${NGINX_ESCAPED_ALICE}` } }, spec), /2 certificates/);
});

// ---- rfc9440 ----

test('rfc9440: a byte sequence decodes, with or without padding, parameters ignored', () => {
  assert.deepEqual(decodeRfc9440Header([`:${b64(ALICE_DER)}:`]).der, ALICE_DER);
  assert.deepEqual(decodeRfc9440Header([`  :${b64(ALICE_DER).replace(/=+$/, '')}:  `]).der, ALICE_DER);
  assert.deepEqual(decodeRfc9440Header([`:${b64(ALICE_DER)}:;v=1`]).der, ALICE_DER);
});

test('rfc9440: Client-Cert-Chain is a list, possibly over several lines', () => {
  const ca = Buffer.from(intermediate.cert.raw);
  const { chain } = decodeRfc9440Header([`:${b64(ALICE_DER)}:`], [`:${b64(ca)}:, :${b64(ALICE_DER)}:`, `:${b64(ca)}:`]);
  assert.deepEqual(chain, [ca, ALICE_DER, ca]);
});

test('rfc9440: anything but one byte sequence is malformed', () => {
  malformed(() => decodeRfc9440Header([b64(ALICE_DER)]), /byte sequence/);
  malformed(() => decodeRfc9440Header([`:${b64(ALICE_DER)}`]), /byte sequence/);
  malformed(() => decodeRfc9440Header([`:${b64(ALICE_DER).replace(/\+/g, '-')}:`]), /byte sequence/);
  malformed(() => decodeRfc9440Header(['::']), /empty/);
  malformed(() => decodeRfc9440Header([':QUJDRA=:']), /impossible length/);
  malformed(() => decodeRfc9440Header([`:${b64(ALICE_DER)}:`, `:${b64(ALICE_DER)}:`]), /appears 2 times/);
  malformed(() => decodeRfc9440Header([`:${b64(ALICE_DER)}:`], [`:${b64(ALICE_DER)}:,,`]), /client-cert-chain: empty list member/);
});

test('rfc9440: a renamed header reads its chain from <name>-Chain', () => {
  const [spec] = resolveHeaderSpecs({ format: 'rfc9440', name: 'X-Client-Cert' });
  const ca = Buffer.from(intermediate.cert.raw);
  const got = readForwardedCertificate({ headers: { 'x-client-cert': `:${b64(ALICE_DER)}:`, 'x-client-cert-chain': `:${b64(ca)}:`, 'client-cert-chain': ':AAAA:' } }, spec);
  assert.deepEqual(got?.chain, [ca]);
});

// ---- xfcc ----

const XFCC_ALICE = `By=spiffe://proxy.example/envoy;Hash=${sha256(ALICE_DER).toString('hex')};Cert="${escaped(ALICE_PEM)}";Subject="CN=alice+UID=a1,O=Example\\, Inc.,OU=R&D";URI=spiffe://example/alice;DNS=alice.example`;

test('xfcc: the grammar: elements by ",", pairs by ";", quoted values with \\" escapes, case-insensitive keys', () => {
  const els = parseXfcc('By=a;HASH=b;Subject="x,y;z=\\"q\\"";DNS=one;dns=two,By=c ; URI = spiffe://d');
  assert.deepEqual(els, [
    [['by', 'a'], ['hash', 'b'], ['subject', 'x,y;z="q"'], ['dns', 'one'], ['dns', 'two']],
    [['by', 'c'], ['uri', 'spiffe://d']],
  ]);
});

test('xfcc: the certificate comes from the last element', async () => {
  const mallory = await issueCertificate({ subject: 'CN=mallory', ca: false });
  const injected = `Hash=${sha256(mallory.cert.raw).toString('hex')};Cert="${escaped(mallory.certPem)}"`;
  const { der } = decodeXfccHeader([`${injected},${XFCC_ALICE}`]);
  assert.deepEqual(der, ALICE_DER);
  // and over two header lines, which concatenate like a list
  assert.deepEqual(decodeXfccHeader([injected, XFCC_ALICE]).der, ALICE_DER);
  assert.deepEqual(decodeXfccHeader([XFCC_ALICE, injected]).der, Buffer.from(mallory.cert.raw));
});

test('xfcc: Hash must match Cert, and Cert must be present', () => {
  malformed(() => decodeXfccHeader([XFCC_ALICE.replace(/Hash=[0-9a-f]{64}/, `Hash=${'0'.repeat(64)}`)]), /Hash= is not the SHA-256 of Cert=/);
  malformed(() => decodeXfccHeader([`By=x;Hash=${sha256(ALICE_DER).toString('hex')};Subject="CN=alice"`]), /no Cert=/);
  assert.deepEqual(decodeXfccHeader([`Cert="${escaped(ALICE_PEM)}"`]).der, ALICE_DER, 'Hash is optional');
});

test('xfcc: syntax errors are malformed', () => {
  malformed(() => parseXfcc('By=a;Subject="unterminated'), /unterminated/);
  malformed(() => parseXfcc('By=a;novalue;Hash=b'), /expected key=value/);
  malformed(() => parseXfcc('Subject="a"b'), /after a quoted value/);
  malformed(() => parseXfcc('Subject=a"b'), /must be quoted/);
  malformed(() => parseXfcc(''), /expected key=value/);
});

// ---- options ----

test('header options: kes and nginx are one format; a name claimed by two formats is a config error', () => {
  assert.deepEqual(resolveHeaderSpecs(undefined), [{ format: 'kes', name: 'x-tls-client-cert' }]);
  assert.deepEqual(resolveHeaderSpecs(['kes', 'nginx', 'rfc9440']), [{ format: 'kes', name: 'x-tls-client-cert' }, { format: 'rfc9440', name: 'client-cert' }]);
  expectCode(() => resolveHeaderSpecs([{ format: 'kes', name: 'Client-Cert' }, 'rfc9440']), 'ERR_CONFIG_INVALID', /both kes and rfc9440/);
  expectCode(() => resolveHeaderSpecs('pem' as never), 'ERR_CONFIG_INVALID', /unknown format "pem"/);
  expectCode(() => resolveHeaderSpecs({ format: 'kes', name: 'bad header' }), 'ERR_CONFIG_INVALID', /not a valid header name/);
});

// ---- the proxy's encoders (src/forward) and this decoder agree ----

test('contract: what the forwarder writes for each format, the backend reads back byte for byte', async () => {
  const { encodeIdentityHeaders } = await import('../../src/forward/identity-headers.js');
  const ca = Buffer.from(intermediate.cert.raw);
  for (const format of ['kes', 'nginx', 'rfc9440', 'xfcc'] as const) {
    const written = encodeIdentityHeaders(format, { der: ALICE_DER, chain: [ca] });
    const headers = Object.fromEntries(Object.entries(written).map(([k, v]) => [k.toLowerCase(), v]));
    const [spec] = resolveHeaderSpecs(format);
    const got = readForwardedCertificate({ headers }, spec);
    assert.deepEqual(got?.der, ALICE_DER, format);
  }
  assert.equal(encodeIdentityHeaders('kes', { der: ALICE_DER })['X-Tls-Client-Cert'], NGINX_ESCAPED_ALICE, 'the forwarder escapes exactly as nginx did');
});
