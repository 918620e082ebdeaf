import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { pemBlocks, toPem } from '../../src/pki/pem.js';

test('toPem writes RFC 7468 text: 64-character lines, a newline after each, the label on both ends', () => {
  for (const n of [1, 47, 48, 49, 96, 560, 4096]) {
    const der = randomBytes(n);
    const pem = toPem(der, 'X509 CRL');
    const b64 = der.toString('base64');
    const lines = [];
    for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
    assert.equal(pem, `-----BEGIN X509 CRL-----\n${lines.join('\n')}\n-----END X509 CRL-----\n`, `${n} bytes`);
  }
  assert.equal(toPem(Buffer.alloc(0)), '-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n');
});

test('property: toPem of any bytes, or any view into a larger buffer, reads back as the same bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), fc.nat(16), (bytes, skip) => {
    const big = Buffer.concat([Buffer.alloc(skip, 0xee), bytes, Buffer.alloc(3, 0xee)]);
    const view = new Uint8Array(big.buffer, big.byteOffset + skip, bytes.length);
    const pem = toPem(view);
    for (const line of pem.split('\n')) assert.ok(line.length <= 64 || line.startsWith('-----'));
    if (bytes.length) assert.deepEqual(pemBlocks(pem), [{ label: 'CERTIFICATE', der: Buffer.from(bytes) }]);
  }), { numRuns: 500 });
});

test('a PEM body with anything but base64 is refused: other characters, base64url, padding in the middle or three times', () => {
  const block = (body: string) => `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`;
  for (const body of ['QU!D', 'QU=D', 'QQ===', 'QUJD-A==', 'QUJD_A==', 'QU\u00e9D', 'QUJD\nRA==QUJD']) {
    assert.throws(() => pemBlocks(block(body)), { code: 'ERR_PEM_INVALID' }, JSON.stringify(body));
  }
  // whitespace anywhere, padding or none at the end, are base64 as PEM writes it
  assert.deepEqual(pemBlocks(block('QUJD\r\n RA==')).map((b) => b.der.toString()), ['ABCD']);
  assert.deepEqual(pemBlocks(block('QUJDRA')).map((b) => b.der.toString()), ['ABCD']);
  assert.deepEqual(pemBlocks(block('QUI=')).map((b) => b.der.toString()), ['AB']);
});

test('property: any character outside base64 and whitespace, put anywhere in a body, is refused', () => {
  const alphabet = /[A-Za-z0-9+/=\s]/;
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (bytes, at, ch) => {
    fc.pre(!alphabet.test(ch) && ch !== '-');
    const b64 = Buffer.from(bytes).toString('base64');
    const i = at % (b64.length + 1);
    const body = b64.slice(0, i) + ch + b64.slice(i);
    assert.throws(() => pemBlocks(`-----BEGIN X-----\n${body}\n-----END X-----\n`), { code: 'ERR_PEM_INVALID' });
  }), { numRuns: 500 });
});
