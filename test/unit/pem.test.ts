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
