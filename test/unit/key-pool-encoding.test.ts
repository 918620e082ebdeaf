/**
 * The key pool assembles P-256 key material from templates instead of OpenSSL's
 * encoders; what it hands out must be byte-identical to Node's own export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { KeyPool, type PooledKey } from '../../src/delegation/index.js';
import { sha1 } from '../../src/pki/certificate-info.js';
import { octets, oid, seq } from '../../src/pki/der.js';
import { OID } from '../../src/pki/x509-fields.js';

const skiExtension = (k: PooledKey) => seq(oid(OID.subjectKeyIdentifier), octets(octets(sha1(k.publicKeyBits))));

test('pooled keys carry the same SEC1 PEM and SPKI DER that Node exports for them', async () => {
  const pool = new KeyPool({ size: 8 });
  try {
    await pool.ready();
    for (let i = 0; i < 8; i++) {
      const k = pool.take();
      assert.equal(k.keyPem, k.privateKey.export({ type: 'sec1', format: 'pem' }));
      const spki = createPublicKey(k.privateKey).export({ type: 'spki', format: 'der' });
      assert.ok(k.spki.equals(spki));
      assert.ok(k.publicKeyBits.equals(spki.subarray(spki.length - 65)));
      assert.equal(k.publicKeyBits[0], 0x04, 'uncompressed point');
      assert.deepEqual(k.subjectKeyIdExtension, skiExtension(k));
      // and OpenSSL reads the PEM back as the same key
      const back = createPrivateKey(k.keyPem);
      assert.deepEqual(back.export({ format: 'jwk' }), k.privateKey.export({ format: 'jwk' }));
    }
  } finally {
    pool.stop();
  }
});

test('a key taken from an empty pool (generated synchronously) is encoded the same way', () => {
  const pool = new KeyPool({ size: 0 });
  try {
    const k = pool.take();
    assert.equal(k.keyPem, k.privateKey.export({ type: 'sec1', format: 'pem' }));
    assert.ok(k.spki.equals(createPublicKey(k.privateKey).export({ type: 'spki', format: 'der' })));
    assert.deepEqual(k.subjectKeyIdExtension, skiExtension(k));
  } finally {
    pool.stop();
  }
});

test('the pool refills what take() hands out', async () => {
  const pool = new KeyPool({ size: 4 });
  try {
    await pool.ready();
    pool.take();
    pool.take();
    assert.equal(pool.available, 2);
    await new Promise((r) => setImmediate(r));
    await pool.ready();
    assert.equal(pool.available, 4);
  } finally {
    pool.stop();
  }
});
