/**
 * Pre-generated ECDSA P-256 key pairs, so a cache miss does not wait for key
 * generation. Refilled in the background (libuv thread pool); when empty, a key
 * is generated synchronously (~0.1 ms) rather than making the caller wait.
 */
import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';

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

function fromPair(publicKey: KeyObject, privateKey: KeyObject): PooledKey {
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
