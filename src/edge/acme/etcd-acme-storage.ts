/**
 * ACME storage in etcd (v3 API, through the `etcd3` client over gRPC), shared by
 * a fleet of countersign instances, as Caddy shares its storage:
 *
 *   <prefix><directory-key>/account.key                 the ACME account key (a secret)
 *   <prefix><directory-key>/account.json                account URL, contact
 *   <prefix><directory-key>/certificates/<domain>       JSON { certPem, keyPem (a secret), meta }, one put
 *   <prefix><directory-key>/locks/<domain>              who orders <domain> now; bound to a lease
 *   <prefix><directory-key>/challenges/<type>/<id>      challenge answers while an order runs; same lease
 *
 * Certificate and key are one value, so a watcher never sees a key without its
 * certificate. The lock is an etcd lease (TTL `lockTtlMs`, kept alive at a third
 * of it): a holder that dies stops renewing the lease, etcd deletes the lock and
 * the challenge keys after the TTL, and another instance takes over. Every
 * instance watches the prefix: a certificate written by one is served by all,
 * and a challenge answer published by the ordering instance is answered by any
 * instance the CA's validation reaches (behind an L4 balancer, that can be any).
 *
 * Only over TLS with a client certificate: the keys are secrets, and etcd keeps
 * them unencrypted; give the client certificate an etcd role limited to the
 * prefix (docs/scaling.md).
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Etcd3, type IKeyValue, type Lease, type Namespace, type Watcher } from 'etcd3';
import { CountersignError } from '../../errors.js';
import { silentLogger, reasonOf, type EdgeLogger } from '../logger.js';
import {
  directoryKey, storageError, type AcmeLock, type AcmeStorage, type AcmeStorageWatch, type CertificateMeta,
  type EtcdStorageSpec, type SharedChallenge, type StoredCertificate,
} from './acme-storage.js';

/** Per etcd request (not the watch and keep-alive streams), in ms. */
export const DEFAULT_ETCD_REQUEST_TIMEOUT_MS = 10_000;

export interface EtcdAcmeStorageOptions extends EtcdStorageSpec {
  directoryUrl: string;
  logger?: EdgeLogger;
}

interface StoredValue extends StoredCertificate { meta?: CertificateMeta }
interface PublishedChallenge extends SharedChallenge { owner: string }

export class EtcdAcmeStorage implements AcmeStorage {
  readonly kind = 'etcd' as const;
  readonly location: string;
  readonly lockRetryMs: number;
  /** this instance, as written into the locks it holds */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly client: Etcd3;
  private readonly kv: Namespace;
  private readonly logger: EdgeLogger;
  private readonly endpoints: string;
  private readonly leases = new Set<Lease>();

  constructor(private readonly opts: EtcdAcmeStorageOptions) {
    if (!opts.endpoints.length || opts.endpoints.some((e) => !e.startsWith('https://'))) {
      throw new CountersignError('ERR_CONFIG_INVALID', 'acme.storage.etcd.endpoints: list https:// URLs; ACME keys are written to etcd only over TLS');
    }
    if (!opts.tls?.ca || !opts.tls?.cert || !opts.tls?.key) {
      throw new CountersignError('ERR_CONFIG_INVALID', 'acme.storage.etcd.tls: ca, cert and key are required; ACME keys are written to etcd only over mTLS');
    }
    this.logger = opts.logger ?? silentLogger;
    this.endpoints = opts.endpoints.join(',');
    const ns = `${opts.prefix.endsWith('/') ? opts.prefix : `${opts.prefix}/`}${directoryKey(opts.directoryUrl)}/`;
    this.location = `etcd:${ns}`;
    this.lockRetryMs = Math.max(250, Math.min(Math.round(opts.lockTtlMs / 3), 10_000));
    const timeout = opts.requestTimeoutMs ?? DEFAULT_ETCD_REQUEST_TIMEOUT_MS;
    this.client = new Etcd3({
      hosts: opts.endpoints,
      credentials: {
        rootCertificate: Buffer.from(opts.tls.ca),
        certChain: Buffer.from(opts.tls.cert),
        privateKey: Buffer.from(opts.tls.key),
      },
      dialTimeout: timeout,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    });
    this.kv = this.client.namespace(ns);
  }

  async init(): Promise<void> {
    // one round trip proves the endpoints, TLS and the client certificate (and read access to the prefix)
    await this.call('connect to', this.location, () => this.kv.get('account.json').string());
  }

  readAccountKey(): Promise<string | undefined> {
    return this.call('read', 'account.key', async () => (await this.kv.get('account.key').string()) ?? undefined);
  }

  createAccountKey(pem: string): Promise<string> {
    return this.call('write', 'account.key', async () => {
      const r = await this.kv.if('account.key', 'Create', '==', 0).then(this.kv.put('account.key').value(pem)).else(this.kv.get('account.key')).commit();
      if (r.succeeded) return pem;
      const stored = r.responses[0]?.response_range?.kvs?.[0]?.value?.toString();
      if (!stored) throw new Error('account.key vanished while being created');
      return stored;
    });
  }

  writeAccountInfo(info: { url: string; contact: string[] }): Promise<void> {
    return this.call('write', 'account.json', async () => {
      await this.kv.put('account.json').value(JSON.stringify({ ...info, directory: this.opts.directoryUrl }));
    });
  }

  certificatePaths(domain: string): { cert: string; key: string } {
    const where = `${this.location}certificates/${domain}`;
    return { cert: where, key: where };
  }

  readCertificate(domain: string): Promise<StoredCertificate | undefined> {
    return this.call('read', `certificates/${domain}`, async () => {
      const raw = await this.kv.get(`certificates/${domain}`).string();
      if (raw === null) return undefined;
      const v = parseJson<StoredValue>(raw);
      if (typeof v?.certPem !== 'string' || typeof v.keyPem !== 'string') {
        this.logger.warn({ domain, where: this.certificatePaths(domain).cert }, 'stored ACME certificate in etcd is not { certPem, keyPem }; ignored');
        return undefined;
      }
      return { certPem: v.certPem, keyPem: v.keyPem };
    });
  }

  writeCertificate(domain: string, c: StoredCertificate, meta: CertificateMeta): Promise<void> {
    return this.call('write', `certificates/${domain}`, async () => {
      const value: StoredValue = { certPem: c.certPem, keyPem: c.keyPem, meta };
      await this.kv.put(`certificates/${domain}`).value(JSON.stringify(value));
    });
  }

  async tryLock(domain: string): Promise<AcmeLock | undefined> {
    const key = `locks/${domain}`;
    const ttlS = Math.max(2, Math.ceil(this.opts.lockTtlMs / 1000));
    const lease = this.kv.lease(ttlS, { autoKeepAlive: true });
    const lost = new AbortController();
    let lastAlive = Date.now();
    const loseWith = (reason: string) => {
      if (lost.signal.aborted) return;
      this.logger.warn({ domain, reason, lockTtlMs: ttlS * 1000 }, 'ACME order lock in etcd lost; abandoning the order');
      lost.abort(new CountersignError('ERR_ACME_STORAGE', `lost the etcd lock for ${domain} (${reason}); another instance may take over`));
    };
    lease.on('keepaliveSucceeded', () => { lastAlive = Date.now(); });
    lease.on('lost', (err) => loseWith(err.message));
    // etcd3 reports a lease lost only after twice its TTL without contact; etcd itself drops it after one
    const watchdog = setInterval(() => { if (Date.now() - lastAlive > ttlS * 1000) loseWith('no keep-alive answered within the lease TTL'); }, Math.max(200, (ttlS * 1000) / 6));
    watchdog.unref();
    const end = async () => {
      clearInterval(watchdog);
      this.leases.delete(lease);
      await lease.revoke().catch((err: unknown) => this.logger.warn({ domain, ...reasonOf(err) }, 'could not revoke the etcd lease of an ACME lock; it expires by itself'));
    };
    this.leases.add(lease);
    try {
      const id = await lease.grant();
      const r = await this.kv.if(key, 'Create', '==', 0)
        .then(this.kv.put(key).value(JSON.stringify({ owner: this.owner, since: new Date().toISOString() })).lease(id))
        .commit();
      if (!r.succeeded) { await end(); return undefined; }
    } catch (err) {
      await end();
      throw storageError(`${this.location}${key}`, 'take the lock', err, this.hint());
    }
    lastAlive = Date.now();
    return {
      signal: lost.signal,
      publishChallenge: async (c) => {
        const ckey = `challenges/${c.type}/${c.id}`;
        const value: PublishedChallenge = { ...c, owner: this.owner };
        await this.call('write', ckey, async () => { await this.kv.put(ckey).value(JSON.stringify(value)).lease(await lease.grant()); });
        return async () => { await this.call('delete', ckey, async () => { await this.kv.delete().key(ckey); }).catch(() => {}); };
      },
      release: end,
    };
  }

  readChallenge(type: SharedChallenge['type'], id: string): Promise<SharedChallenge | undefined> {
    return this.call('read', `challenges/${type}/${id}`, async () => {
      const c = parseJson<PublishedChallenge>((await this.kv.get(`challenges/${type}/${id}`).string()) ?? '');
      return c && typeof c.keyAuthorization === 'string' ? c : undefined;
    });
  }

  async watch(w: AcmeStorageWatch): Promise<() => Promise<void>> {
    const watcher: Watcher = await this.call('watch', this.location, () => this.kv.watch().prefix('').withPreviousKV().create());
    const dispatch = (kv: IKeyValue, deleted: boolean, previous?: IKeyValue) => {
      const key = kv.key.toString();
      try {
        if (key.startsWith('certificates/')) {
          if (!deleted) w.onCertificate(key.slice('certificates/'.length));
        } else if (key.startsWith('challenges/') && w.onChallenge) {
          const c = parseJson<PublishedChallenge>((deleted ? previous : kv)?.value?.toString() ?? '');
          if (!c || c.owner === this.owner) return; // our own answers are in our registry already
          w.onChallenge(c.id, c.type, deleted ? undefined : c);
        }
      } catch (err) {
        this.logger.error({ key, ...reasonOf(err) }, 'ACME storage watch handler failed');
      }
    };
    watcher.on('put', (kv) => dispatch(kv, false));
    watcher.on('delete', (kv, previous) => dispatch(kv, true, previous));
    watcher.on('disconnected', (err) => this.logger.warn({ where: this.location, ...reasonOf(err) }, 'etcd watch disconnected; reconnecting'));
    watcher.on('connected', () => this.logger.info({ where: this.location }, 'etcd watch connected'));
    watcher.on('error', (err) => this.logger.warn({ where: this.location, ...reasonOf(err) }, 'etcd watch error'));
    return async () => { await watcher.cancel().catch(() => {}); };
  }

  async close(): Promise<void> {
    for (const l of this.leases) await l.revoke().catch(() => {});
    this.client.close();
  }

  private hint(): string {
    return `check acme.storage.etcd (endpoints ${this.endpoints}, tls ca/cert/key) and that etcd is up and grants this client read/write on ${this.opts.prefix}`;
  }

  private async call<T>(what: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CountersignError) throw err;
      throw storageError(key.startsWith('etcd:') ? key : `${this.location}${key}`, what, err, this.hint());
    }
  }
}

function parseJson<T>(s: string): T | undefined {
  try { return JSON.parse(s) as T; } catch { return undefined; }
}
