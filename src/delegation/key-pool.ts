/**
 * Pre-generated ECDSA P-256 key pairs, so a cache miss does not wait for key
 * generation. Refilled in the background (libuv thread pool); when empty, a key
 * is generated synchronously (~0.1 ms) rather than making the caller wait.
 */
import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { toPem } from '../pki/pem.js';

export interface PooledKey {
  privateKey: KeyObject;
  /** PKCS#8 PEM, as TLS contexts take it */
  keyPem: string;
  /** DER SubjectPublicKeyInfo */
  spki: Buffer;
  /** the public key point (the BIT STRING payload), for the subject key identifier */
  publicKeyBits: Buffer;
}

export interface KeyPoolOptions {
  /** keys kept ready; default 32 */
  size?: number;
}

export const DEFAULT_KEY_POOL_SIZE = 32;

// P-256 key material is laid out by fixed templates (RFC 5480 SPKI; RFC 5915
// ECPrivateKey with its public key inside RFC 5208 PKCS#8, as OpenSSL writes it),
// so it is assembled from the JWK export: OpenSSL 3.0's DER/PEM encoders take
// ~230 µs a key (PKCS#8 PEM + SPKI DER), the JWK export ~10 µs. Byte-identical to
// Node's own export (test/unit/key-pool-encoding.test.ts).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex');
const P256_PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const P256_PKCS8_PUBLIC_KEY = Buffer.from('a14403420004', 'hex');

function fromPair(publicKey: KeyObject, privateKey: KeyObject): PooledKey {
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.crv === 'P-256' && jwk.d && jwk.x && jwk.y) {
    const d = Buffer.from(jwk.d, 'base64url');
    const x = Buffer.from(jwk.x, 'base64url');
    const y = Buffer.from(jwk.y, 'base64url');
    if (d.length === 32 && x.length === 32 && y.length === 32) {
      const spki = Buffer.concat([P256_SPKI_PREFIX, x, y]);
      return {
        privateKey,
        keyPem: toPem(Buffer.concat([P256_PKCS8_PREFIX, d, P256_PKCS8_PUBLIC_KEY, x, y]), 'PRIVATE KEY'),
        spki,
        publicKeyBits: spki.subarray(spki.length - 65),
      };
    }
  }
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // P-256 SPKI is a fixed 26-byte header followed by the 65-byte uncompressed point.
  return {
    privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    spki,
    publicKeyBits: spki.subarray(spki.length - 65),
  };
}

export class KeyPool {
  readonly size: number;
  private readonly keys: PooledKey[] = [];
  private filling = 0;
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
    this.refill();
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
