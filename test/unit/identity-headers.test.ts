/**
 * Identity headers: golden values for every format on one fixed certificate
 * (values captured from nginx and openssl, not from the code under test),
 * round trips through independent decoders, and the stripping rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { isCountersignError } from '../../src/errors.js';
import {
  DEFAULT_IDENTITY_HEADER, encodeIdentityHeaders, IDENTITY_HEADER_NAMES, identityHeaderEncoder, identityHeaderNames,
  normalizeHeaderName, stripIdentityHeaders, stripIdentityRawHeaders,
} from '../../src/forward/identity-headers.js';
import { der } from '../../src/pki/index.js';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { FIXTURE_INTERMEDIATE_PEM as INTERMEDIATE_PEM, FIXTURE_LEAF_PEM as LEAF_PEM, NGINX_ESCAPED_FIXTURE_LEAF as NGINX_ESCAPED_LEAF } from '../helpers/golden-certificates.js';

// ---- the fixed certificate (test/helpers/golden-certificates.ts) ----------

/** `openssl x509 -noout -fingerprint -sha256` of LEAF_PEM, lower case without colons. */
const LEAF_SHA256 = '4fa37e26b338e3bf7e2791e159f70ae2072944163c98dd7032d2ea9e3e89c010';

/** `openssl x509 -noout -subject -nameopt RFC2253` of LEAF_PEM (OpenSSL 3.0). */
const LEAF_SUBJECT_RFC2253 = 'CN=alice smith,OU=team one+OU=a=b,O=M\\C3\\BCller \\+ S\\C3\\B6hne\\, \\"GmbH\\",C=DE';

const pemToDer = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
const LEAF_DER = pemToDer(LEAF_PEM);
const INTERMEDIATE_DER = pemToDer(INTERMEDIATE_PEM);
/** The PEM body on one line: the base64 an RFC 9440 Byte Sequence must carry. */
const pemBase64 = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isCountersignError(err) && err.code === code);
}

/**
 * An XFCC parser written from Envoy's documented grammar (elements split by
 * ",", pairs by ";", a value may be a "quoted string" with backslash escapes),
 * independent of the encoder.
 */
function parseXfcc(value: string): [string, string][][] {
  const elements: [string, string][][] = [];
  let pairs: [string, string][] = [];
  let key = '';
  let cur = '';
  let inKey = true;
  let quoted = false;
  const endPair = () => { pairs.push([key, cur]); key = ''; cur = ''; inKey = true; };
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') cur += value[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (inKey && c === '=') { key = cur; cur = ''; inKey = false; }
    else if (!inKey && c === '"' && cur === '') quoted = true;
    else if (c === ';') endPair();
    else if (c === ',') { endPair(); elements.push(pairs); pairs = []; }
    else cur += c;
  }
  endPair();
  elements.push(pairs);
  return elements;
}

// ---- kes / nginx ------------------------------------------------------------

test('kes: X-Tls-Client-Cert is byte-for-byte what nginx sends as $ssl_client_escaped_cert', () => {
  assert.deepEqual(encodeIdentityHeaders('kes', { der: LEAF_DER }), { 'X-Tls-Client-Cert': NGINX_ESCAPED_LEAF });
});

test('nginx: same value as kes, same default header', () => {
  assert.deepEqual(encodeIdentityHeaders('nginx', { der: LEAF_DER }), { 'X-Tls-Client-Cert': NGINX_ESCAPED_LEAF });
});

test('kes: the chain is never sent (nginx sends only the leaf)', () => {
  assert.deepEqual(encodeIdentityHeaders('kes', { der: LEAF_DER, chain: [INTERMEDIATE_DER] }), { 'X-Tls-Client-Cert': NGINX_ESCAPED_LEAF });
});

test('kes: headerName renames the header and keeps the value', () => {
  assert.deepEqual(encodeIdentityHeaders('kes', { der: LEAF_DER }, { headerName: 'ssl-client-cert' }), { 'ssl-client-cert': NGINX_ESCAPED_LEAF });
});

test('kes: the value decodes back to the PEM and the same certificate', () => {
  const v = encodeIdentityHeaders('kes', { der: LEAF_DER })['X-Tls-Client-Cert'];
  const pem = decodeURIComponent(v);
  assert.equal(pem, LEAF_PEM);
  assert.deepEqual(new X509Certificate(pem).raw, LEAF_DER);
});

test('kes: no literal "+" survives, so Go url.QueryUnescape (what KES uses) cannot turn one into a space', () => {
  const v = encodeIdentityHeaders('kes', { der: LEAF_DER })['X-Tls-Client-Cert'];
  assert.ok(LEAF_PEM.includes('+'), 'the fixture must contain "+" for this test to mean anything');
  assert.ok(!v.includes('+'));
  // QueryUnescape = "+" -> " " then percent-decoding
  assert.equal(decodeURIComponent(v.replace(/\+/g, ' ')), LEAF_PEM);
});

test('kes: a certificate whose base64 has "/" and "=" padding escapes them as %2F and %3D', () => {
  const v = encodeIdentityHeaders('kes', { der: LEAF_DER })['X-Tls-Client-Cert'];
  assert.ok(v.includes('%2F') && v.endsWith('%3D%3D%0A-----END%20CERTIFICATE-----%0A'));
  assert.ok(!/[/= \n]/.test(v));
});

// ---- rfc9440 ------------------------------------------------------------------

test('rfc9440: Client-Cert is the DER as a structured-field Byte Sequence', () => {
  assert.deepEqual(encodeIdentityHeaders('rfc9440', { der: LEAF_DER }), { 'Client-Cert': `:${pemBase64(LEAF_PEM)}:` });
});

test('rfc9440: Client-Cert-Chain lists the intermediates, leaf excluded, in order', () => {
  const second = Buffer.from(INTERMEDIATE_DER).reverse(); // any bytes: the order is what is checked
  const h = encodeIdentityHeaders('rfc9440', { der: LEAF_DER, chain: [INTERMEDIATE_DER, second] });
  assert.deepEqual(h, {
    'Client-Cert': `:${pemBase64(LEAF_PEM)}:`,
    'Client-Cert-Chain': `:${pemBase64(INTERMEDIATE_PEM)}:, :${second.toString('base64')}:`,
  });
});

test('rfc9440: no Client-Cert-Chain when the client sent no intermediates', () => {
  assert.deepEqual(Object.keys(encodeIdentityHeaders('rfc9440', { der: LEAF_DER, chain: [] })), ['Client-Cert']);
});

test('rfc9440: round trip through a structured-field decoder gives the same certificates', () => {
  const h = encodeIdentityHeaders('rfc9440', { der: LEAF_DER, chain: [INTERMEDIATE_DER] });
  const byteSeq = /^:([A-Za-z0-9+/]*={0,2}):$/;
  const leaf = byteSeq.exec(h['Client-Cert'])![1];
  assert.deepEqual(new X509Certificate(Buffer.from(leaf, 'base64')).raw, LEAF_DER);
  const chain = h['Client-Cert-Chain'].split(/\s*,\s*/).map((m) => Buffer.from(byteSeq.exec(m)![1], 'base64'));
  assert.deepEqual(chain, [INTERMEDIATE_DER]);
});

test('rfc9440: headerName renames both headers', () => {
  assert.deepEqual(Object.keys(encodeIdentityHeaders('rfc9440', { der: LEAF_DER, chain: [INTERMEDIATE_DER] }, { headerName: 'X-Client' })), ['X-Client', 'X-Client-Chain']);
});

// ---- xfcc ---------------------------------------------------------------------

const XFCC_GOLDEN = [
  `Hash=${LEAF_SHA256}`,
  `Cert="${NGINX_ESCAPED_LEAF}"`,
  `Subject="${LEAF_SUBJECT_RFC2253}"`,
  'URI=spiffe://example.org/ns/a/sa/alice',
  'URI="https://x.example/?a=1;b=2"',
  'DNS=alice.example.com',
  'DNS=*.alice.example',
].join(';');

test('xfcc: Hash, Cert, Subject, URI, DNS in Envoy\'s order and format', () => {
  assert.deepEqual(encodeIdentityHeaders('xfcc', { der: LEAF_DER }), { 'X-Forwarded-Client-Cert': XFCC_GOLDEN });
});

test('xfcc: By= comes first when configured', () => {
  const v = encodeIdentityHeaders('xfcc', { der: LEAF_DER }, { by: 'spiffe://example.org/countersign' })['X-Forwarded-Client-Cert'];
  assert.equal(v, `By=spiffe://example.org/countersign;${XFCC_GOLDEN}`);
});

test('xfcc: Chain= (leaf first, then intermediates) follows Cert= when the client sent a chain', () => {
  const v = encodeIdentityHeaders('xfcc', { der: LEAF_DER, chain: [INTERMEDIATE_DER] })['X-Forwarded-Client-Cert'];
  const chain = encodeURIComponent(LEAF_PEM) + encodeURIComponent(INTERMEDIATE_PEM); // equal to nginx's escaping on PEM text
  assert.ok(v.startsWith(`Hash=${LEAF_SHA256};Cert="${NGINX_ESCAPED_LEAF}";Chain="${chain}";Subject=`));
});

test('xfcc: round trip through an XFCC parser', () => {
  const v = encodeIdentityHeaders('xfcc', { der: LEAF_DER })['X-Forwarded-Client-Cert'];
  const elements = parseXfcc(v);
  assert.equal(elements.length, 1, 'one client, one element');
  const pairs = elements[0];
  const get = (k: string) => pairs.filter(([key]) => key === k).map(([, val]) => val);
  assert.deepEqual(get('Hash'), [createHash('sha256').update(LEAF_DER).digest('hex')]);
  assert.deepEqual(new X509Certificate(decodeURIComponent(get('Cert')[0])).raw, LEAF_DER);
  assert.deepEqual(get('URI'), ['spiffe://example.org/ns/a/sa/alice', 'https://x.example/?a=1;b=2']);
  assert.deepEqual(get('DNS'), ['alice.example.com', '*.alice.example']);
  assert.equal(get('Subject').length, 1);
});

test('xfcc: a certificate without SANs gets a bare "URI=" and no DNS=, as Envoy writes it', async () => {
  const c = await issueCertificate({ subject: 'CN=plain' });
  const v = encodeIdentityHeaders('xfcc', { der: c.cert.raw })['X-Forwarded-Client-Cert'];
  assert.match(v, /;Subject="CN=plain";URI=$/);
});

test('xfcc: a URI SAN crafted to look like extra XFCC fields stays one quoted value', async () => {
  const evil = 'x,By=spiffe://evil;Hash=00;Subject="CN=root"';
  const san = der.seq(der.tlv(0x86, Buffer.from(evil, 'latin1')), der.tlv(0x82, Buffer.from('a\r\nb', 'latin1')));
  const c = await issueCertificate({ subject: 'CN=mallory', extraExtensions: [{ oid: '2.5.29.17', critical: false, value: san }] });
  const v = encodeIdentityHeaders('xfcc', { der: c.cert.raw })['X-Forwarded-Client-Cert'];
  const elements = parseXfcc(v);
  assert.equal(elements.length, 1);
  assert.deepEqual(elements[0].filter(([k]) => k === 'URI').map(([, x]) => x), [evil]);
  assert.deepEqual(elements[0].filter(([k]) => k === 'By'), []);
  assert.deepEqual(elements[0].filter(([k]) => k === 'Hash').map(([, x]) => x), [createHash('sha256').update(c.cert.raw).digest('hex')]);
  assert.deepEqual(elements[0].filter(([k]) => k === 'DNS').map(([, x]) => x), ['a%0D%0Ab'], 'control bytes are percent-encoded');
  // eslint-disable-next-line no-control-regex
  assert.ok(!/[\x00-\x1f\x7f]/.test(v), 'a valid HTTP header value');
});

// ---- options --------------------------------------------------------------------

test('default header names per format', () => {
  assert.deepEqual(DEFAULT_IDENTITY_HEADER, { kes: 'X-Tls-Client-Cert', nginx: 'X-Tls-Client-Cert', rfc9440: 'Client-Cert', xfcc: 'X-Forwarded-Client-Cert', 'k8s-front-proxy': 'X-Remote-User' });
});

test('an invalid headerName is refused when the encoder is built', () => {
  expectCode(() => identityHeaderEncoder('kes', { headerName: 'X Tls: evil' }), 'ERR_IDENTITY_HEADER_OPTIONS');
  expectCode(() => identityHeaderEncoder('kes', { headerName: '' }), 'ERR_IDENTITY_HEADER_OPTIONS');
});

test('"by" is refused for formats other than xfcc, and with control characters', () => {
  expectCode(() => identityHeaderEncoder('kes', { by: 'spiffe://x' }), 'ERR_IDENTITY_HEADER_OPTIONS');
  expectCode(() => identityHeaderEncoder('xfcc', { by: 'spiffe://x\r\nX-Evil: 1' }), 'ERR_IDENTITY_HEADER_OPTIONS');
});

test('an unknown format is refused', () => {
  expectCode(() => identityHeaderEncoder('haproxy' as never), 'ERR_IDENTITY_HEADER_OPTIONS');
});

test('one encoder serves many connections with independent results', async () => {
  const enc = identityHeaderEncoder('kes');
  const other = await issueCertificate({ subject: 'CN=bob' });
  const a = enc({ der: LEAF_DER });
  const b = enc({ der: other.cert.raw });
  assert.equal(a['X-Tls-Client-Cert'], NGINX_ESCAPED_LEAF);
  assert.equal(decodeURIComponent(b['X-Tls-Client-Cert']), other.certPem);
});

// ---- stripping ------------------------------------------------------------------

test('every identity header family is stripped', () => {
  const headers: Record<string, string> = { host: 'h', 'x-request-id': '1' };
  for (const n of IDENTITY_HEADER_NAMES) headers[n] = 'spoofed';
  const removed = stripIdentityHeaders(headers, identityHeaderNames());
  assert.deepEqual(headers, { host: 'h', 'x-request-id': '1' });
  assert.equal(removed.length, IDENTITY_HEADER_NAMES.length);
});

test('the families the contracts name are all in the list', () => {
  const names = identityHeaderNames();
  for (const n of ['x-tls-client-cert', 'client-cert', 'client-cert-chain', 'x-forwarded-client-cert', 'ssl-client-cert', 'x-ssl-cert', 'x-client-cert']) {
    assert.ok(names.has(n), n);
  }
});

test('stripping ignores case and treats "_" as "-" (CGI/WSGI backends merge them)', () => {
  const headers: Record<string, string | string[]> = {
    'X-TLS-CLIENT-CERT': 'a', 'Client-Cert': ':AA==:', 'x_forwarded_client_cert': 'Hash=00', 'X_Tls_Client_Cert': 'b', accept: '*/*',
  };
  const removed = stripIdentityHeaders(headers, identityHeaderNames());
  assert.deepEqual(headers, { accept: '*/*' });
  assert.deepEqual(removed.sort(), ['Client-Cert', 'X-TLS-CLIENT-CERT', 'X_Tls_Client_Cert', 'x_forwarded_client_cert']);
});

test('stripping removes array-valued (repeated) headers and keeps look-alikes', () => {
  const headers: Record<string, string | string[] | undefined> = {
    'x-tls-client-cert': ['a', 'b'], 'x-tls-client-certificate': 'kept', 'client-certs': 'kept', 'x-forwarded-for': '1.2.3.4', 'client-cert': undefined,
  };
  stripIdentityHeaders(headers, identityHeaderNames());
  assert.deepEqual(headers, { 'x-tls-client-certificate': 'kept', 'client-certs': 'kept', 'x-forwarded-for': '1.2.3.4' });
});

test('a configured custom header name is stripped too, in any case', () => {
  const names = identityHeaderNames(['X-Corp-Identity']);
  const headers = { 'x-corp-identity': 'spoofed', 'X-CORP_IDENTITY': 'spoofed', other: 'x' };
  assert.deepEqual(stripIdentityHeaders(headers, names).sort(), ['X-CORP_IDENTITY', 'x-corp-identity']);
  assert.deepEqual(headers, { other: 'x' });
});

test('identityHeaderNames().has() normalizes its argument, so a plain has(key) check is safe', () => {
  const names = identityHeaderNames();
  assert.ok(names.has('X_Forwarded_Client_Cert'));
  assert.ok(names.has('CLIENT-CERT-CHAIN'));
  assert.ok(!names.has('x-request-id'));
  assert.equal(normalizeHeaderName('X_Tls_Client_Cert'), 'x-tls-client-cert');
});

test('a plain lower-case Set works with stripIdentityHeaders as well', () => {
  const headers = { 'X_TLS_CLIENT_CERT': 'a', keep: 'b' };
  stripIdentityHeaders(headers, new Set(['x-tls-client-cert']));
  assert.deepEqual(headers, { keep: 'b' });
});

test('an invalid custom header name is refused', () => {
  expectCode(() => identityHeaderNames(['bad name']), 'ERR_IDENTITY_HEADER_OPTIONS');
});

test('rawHeaders: every repeated, any-case identity pair is removed and order is kept', () => {
  const raw = ['Host', 'h', 'X-Tls-Client-Cert', 'a', 'Accept', '*/*', 'x-tls-client-cert', 'b', 'CLIENT_CERT', 'c', 'X-Id', '1'];
  const { kept, removed } = stripIdentityRawHeaders(raw, identityHeaderNames());
  assert.deepEqual(kept, ['Host', 'h', 'Accept', '*/*', 'X-Id', '1']);
  assert.deepEqual(removed, ['X-Tls-Client-Cert', 'x-tls-client-cert', 'CLIENT_CERT']);
});

test('rawHeaders: with nothing to remove the same array comes back (no copy)', () => {
  const raw = ['Host', 'h', 'Accept', '*/*'];
  assert.equal(stripIdentityRawHeaders(raw, identityHeaderNames()).kept, raw);
});

test('a request parsed by Node\'s HTTP parser has no identity header left after stripping', async () => {
  let seen: IncomingMessage | undefined;
  const server = createServer((req, res) => { seen = req; res.end('ok'); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(sock, 'connect');
    sock.end([
      'GET / HTTP/1.1', 'Host: x',
      'X-Tls-Client-Cert: one', 'x-tls-client-cert: two', 'X-TLS-CLIENT-CERT: three',
      'Client-Cert: :AAAA:', 'Client-Cert-Chain: :AA==:', 'client-cert: :BBBB:',
      'X-Forwarded-Client-Cert: Hash=00', 'x-forwarded-client-cert: By=x',
      'X_Tls_Client_Cert: underscore', 'SSL-Client-Cert: x', 'X-SSL-CERT: y', 'X-Client-Cert: z',
      'X-Keep: yes', 'Connection: close', '', '',
    ].join('\r\n'));
    const chunks: Buffer[] = [];
    for await (const c of sock) chunks.push(c as Buffer);
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 200/);
    assert.ok(seen);
    const headers = { ...seen.headers };
    stripIdentityHeaders(headers, identityHeaderNames());
    assert.deepEqual(Object.keys(headers).sort(), ['connection', 'host', 'x-keep']);
    const { kept } = stripIdentityRawHeaders(seen.rawHeaders, identityHeaderNames());
    assert.deepEqual(kept.filter((_, i) => i % 2 === 0), ['Host', 'X-Keep', 'Connection']);
  } finally {
    server.close();
  }
});
