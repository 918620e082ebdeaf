/**
 * Pre-generated ECDSA P-256 key pairs, so a cache miss does not wait for key
 * generation. Refilled in the background (libuv thread pool); when empty, a key
 * is generated synchronously (~0.1 ms) rather than making the caller wait.
 */
import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { sha1, toPem, OID, der } from '../pki/index.js';

const { octets, oid, seq } = der;

export interface PooledKey {
  privateKey: KeyObject;
  /** SEC1 ("EC PRIVATE KEY") PEM, as TLS contexts take it */
  keyPem: string;
  /** DER SubjectPublicKeyInfo */
  spki: Buffer;
  /** the public key point (the BIT STRING payload) */
  publicKeyBits: Buffer;
  /** DER subjectKeyIdentifier extension (SHA-1 of publicKeyBits), hashed here rather than on every mint */
  subjectKeyIdExtension: Buffer;
}

export interface KeyPoolOptions {
  /** keys kept ready; default 32 */
  size?: number;
}

export const DEFAULT_KEY_POOL_SIZE = 32;

// P-256 key material is laid out by fixed templates (RFC 5480 SPKI; RFC 5915
// ECPrivateKey with its curve and public key, as OpenSSL writes it), so it is
// assembled from the JWK export: OpenSSL 3.0's DER/PEM encoders take ~230 µs a
// key, the JWK export ~10 µs. Byte-identical to Node's own export
// (test/unit/key-pool-encoding.test.ts). SEC1 rather than PKCS#8 because every new
// identity's TLS context parses this PEM, and OpenSSL 3.0 decodes SEC1 ~130 µs
// faster (no PKCS#8 unwrapping, fewer decoders tried).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex');
const P256_SEC1_PREFIX = Buffer.from('30770201010420', 'hex');
const P256_SEC1_CURVE_AND_PUBLIC_KEY = Buffer.from('a00a06082a8648ce3d030107a14403420004', 'hex');
const SKI_OID = oid(OID.subjectKeyIdentifier);

function pooled(privateKey: KeyObject, keyPem: string, spki: Buffer): PooledKey {
  // P-256 SPKI is a fixed 26-byte header followed by the 65-byte uncompressed point.
  const publicKeyBits = spki.subarray(spki.length - 65);
  return { privateKey, keyPem, spki, publicKeyBits, subjectKeyIdExtension: seq(SKI_OID, octets(octets(sha1(publicKeyBits)))) };
}

function fromPair(publicKey: KeyObject, privateKey: KeyObject): PooledKey {
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.crv === 'P-256' && jwk.d && jwk.x && jwk.y) {
    const d = Buffer.from(jwk.d, 'base64url');
    const x = Buffer.from(jwk.x, 'base64url');
    const y = Buffer.from(jwk.y, 'base64url');
    if (d.length === 32 && x.length === 32 && y.length === 32) {
      const keyPem = toPem(Buffer.concat([P256_SEC1_PREFIX, d, P256_SEC1_CURVE_AND_PUBLIC_KEY, x, y]), 'EC PRIVATE KEY');
      return pooled(privateKey, keyPem, Buffer.concat([P256_SPKI_PREFIX, x, y]));
    }
  }
  return pooled(privateKey, privateKey.export({ type: 'sec1', format: 'pem' }) as string, publicKey.export({ type: 'spki', format: 'der' }));
}

export class KeyPool {
  readonly size: number;
  private readonly keys: PooledKey[] = [];
  private filling = 0;
  private refillScheduled = false;
  private stopped = false;

  constructor(opts: KeyPoolOptions = {}) {
    this.size = opts.size ?? DEFAULT_KEY_POOL_SIZE;
    this.refill();
  }

  get available(): number {
    return this.keys.length;
  }

  take(): PooledKey {
    const k = this.keys.pop();
    this.scheduleRefill();
    if (k) return k;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return fromPair(publicKey, privateKey);
  }

  /** Resolves once the pool is full (tests and benchmarks use it to measure the warm path). */
  async ready(): Promise<void> {
    while (this.keys.length < this.size && !this.stopped) await new Promise((r) => setTimeout(r, 2));
  }

  stop(): void {
    this.stopped = true;
  }

  // Starting a key generation costs the caller ~5 µs, and the generation then competes
  // for the CPU with the rest of its work: start replacements once the caller is done.
  private scheduleRefill(): void {
    if (this.refillScheduled || this.stopped) return;
    this.refillScheduled = true;
    setImmediate(() => { this.refillScheduled = false; this.refill(); });
  }

  private refill(): void {
    while (!this.stopped && this.keys.length + this.filling < this.size) {
      this.filling++;
      generateKeyPair('ec', { namedCurve: 'P-256' }, (err, publicKey, privateKey) => {
        this.filling--;
        if (err || this.stopped) return;
        this.keys.push(fromPair(publicKey, privateKey));
      });
    }
  }
}
