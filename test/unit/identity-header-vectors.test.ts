/**
 * The identity-header golden vectors (test/vectors/identity-header-vectors.json):
 * every case holds against the codecs, the committed file is what the codecs
 * produce today (a change to a format shows up as a diff of the file:
 * `npm run vectors`), and the vectors agree with values that did not come from
 * the code under test (nginx's `$ssl_client_escaped_cert`, openssl's output).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { DEFAULT_HEADER_NAMES } from '../../src/backend/index.js';
import { CERTIFICATE_HEADER_FORMATS, IDENTITY_HEADER_FORMATS } from '../../src/identity-headers/index.js';
import { IDENTITY_HEADER_NAMES } from '../../src/forward/identity-headers.js';
import { configSchema } from '../../src/config/schema.js';
import { NGINX_ESCAPED_ALICE, NGINX_ESCAPED_FIXTURE_LEAF } from '../helpers/golden-certificates.js';
import {
  buildIdentityHeaderVectors, IDENTITY_HEADER_VECTORS_FILE, runDecode, runEncode, type IdentityHeaderVectors,
} from '../vectors/identity-header-cases.js';

const file = JSON.parse(readFileSync(IDENTITY_HEADER_VECTORS_FILE, 'utf8')) as IdentityHeaderVectors;

test('the committed vectors are what the codecs produce (regenerate with npm run vectors)', () => {
  assert.deepEqual(buildIdentityHeaderVectors(), file);
});

test('every encode vector: the codec writes exactly the recorded headers, or refuses with the recorded code', () => {
  assert.ok(file.encode.length >= 25);
  for (const c of file.encode) assert.deepEqual(runEncode(c), c.expect, c.name);
  assert.ok(file.encode.some((c) => 'error' in c.expect) && file.encode.some((c) => 'headers' in c.expect), 'both outcomes are covered');
});

test('every decode vector: the codec reads the recorded certificate, user or error code', () => {
  assert.ok(file.decode.length >= 40);
  for (const c of file.decode) assert.deepEqual(runDecode(c), c.expect, c.name);
  for (const format of IDENTITY_HEADER_FORMATS) {
    assert.ok(file.decode.some((c) => c.format === format && 'error' in c.expect), `${format} has a malformed case`);
  }
});

test('each format\'s encoding reads back to what was encoded (certificate and chain, or CN and O)', () => {
  for (const c of file.encode) {
    if (!('headers' in c.expect)) continue;
    const back = file.decode.find((d) => d.name === `${c.name}-read-back`);
    assert.ok(back, `${c.name} has a read-back case`);
    if (c.format === 'k8s-front-proxy') {
      assert.ok('user' in back.expect, c.name);
      continue;
    }
    // kes/nginx carry only the leaf, as nginx does
    const chain = c.format === 'kes' || c.format === 'nginx' ? [] : c.chain;
    assert.deepEqual(back.expect, { certificate: c.certificate, chain }, c.name);
  }
});

test('anchors outside the code: kes/nginx values are the bytes nginx sent; k8s names are what openssl printed', () => {
  const value = (name: string, header: string) => {
    const c = file.encode.find((e) => e.name === name);
    assert.ok(c && 'headers' in c.expect, name);
    return c.expect.headers[header];
  };
  assert.equal(value('kes-leaf-with-chain', 'X-Tls-Client-Cert'), NGINX_ESCAPED_FIXTURE_LEAF);
  assert.equal(value('nginx-alice', 'X-Tls-Client-Cert'), NGINX_ESCAPED_ALICE);
  // openssl x509 -subject: CN=alice smith, O=Müller + Söhne, "GmbH" (sent as UTF-8 bytes)
  assert.equal(value('k8s-front-proxy-leaf-with-chain', 'X-Remote-User'), 'alice smith');
  assert.deepEqual(value('k8s-front-proxy-leaf-with-chain', 'X-Remote-Group'), [Buffer.from('Müller + Söhne, "GmbH"', 'utf8').toString('latin1')]);
  // the rfc9440 value is the DER that openssl wrote, in base64
  const der = new X509Certificate(file.certificates.alice).raw;
  assert.equal(value('rfc9440-alice', 'Client-Cert'), `:${der.toString('base64')}:`);
});

test('the formats are listed once: the schema, the proxy and the backend take theirs from the codecs', () => {
  assert.deepEqual(file.formats, IDENTITY_HEADER_FORMATS);
  const routeHeader = (configSchema.shape.routes.element.shape.header.unwrap() as unknown as { options: string[] }).options;
  assert.deepEqual(routeHeader, [...IDENTITY_HEADER_FORMATS]);
  assert.deepEqual(Object.keys(DEFAULT_HEADER_NAMES), [...CERTIFICATE_HEADER_FORMATS]);
  for (const f of CERTIFICATE_HEADER_FORMATS) assert.equal(DEFAULT_HEADER_NAMES[f], file.defaultHeaderNames[f].toLowerCase());
  // every header a format writes is one the proxy strips from client requests
  for (const c of file.encode) {
    if (!('headers' in c.expect) || c.options.headerName) continue;
    for (const h of Object.keys(c.expect.headers)) assert.ok(IDENTITY_HEADER_NAMES.includes(h.toLowerCase()), `${h} (${c.format}) is stripped from clients`);
  }
});
