/**
 * ACME storage in a directory on this machine, for one instance:
 *
 *   <storage>/<directory-key>/account.key                        0600
 *   <storage>/<directory-key>/account.json                       account URL, contact
 *   <storage>/<directory-key>/certificates/<domain>/certificate.pem
 *   <storage>/<directory-key>/certificates/<domain>/private-key.pem   0600
 *   <storage>/<directory-key>/certificates/<domain>/meta.json
 *
 * Directories are 0700. Every file is written to a temp name and renamed, so a
 * crash never leaves a half-written key behind. The lock is local to this
 * process: a directory is not a way to share ACME between instances (use etcd).
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { silentLogger, type EdgeLogger } from '../logger.js';
import { directoryKey, storageError, type AcmeLock, type AcmeStorage, type CertificateMeta, type StoredCertificate } from './acme-storage.js';

export interface FileAcmeStorageOptions {
  root: string;
  directoryUrl: string;
  logger?: EdgeLogger;
}

export class FileAcmeStorage implements AcmeStorage {
  readonly kind = 'file' as const;
  readonly dir: string;
  readonly lockRetryMs = 1_000;
  private readonly logger: EdgeLogger;
  private readonly locked = new Set<string>();

  constructor(private readonly opts: FileAcmeStorageOptions) {
    this.dir = join(resolve(opts.root), directoryKey(opts.directoryUrl));
    this.logger = opts.logger ?? silentLogger;
  }

  get location(): string { return this.dir; }

  async init(): Promise<void> {
    await this.mkdirPrivate(this.dir);
    await this.mkdirPrivate(join(this.dir, 'certificates'));
  }

  readAccountKey(): Promise<string | undefined> { return this.readSecret(join(this.dir, 'account.key')); }
  async createAccountKey(pem: string): Promise<string> {
    const stored = await this.readAccountKey();
    if (stored) return stored;
    await this.write(join(this.dir, 'account.key'), pem);
    return pem;
  }
  writeAccountInfo(info: { url: string; contact: string[] }): Promise<void> {
    return this.write(join(this.dir, 'account.json'), JSON.stringify({ ...info, directory: this.opts.directoryUrl }, null, 2) + '\n');
  }

  certificatePaths(domain: string): { cert: string; key: string; meta: string } {
    const d = join(this.dir, 'certificates', domain);
    return { cert: join(d, 'certificate.pem'), key: join(d, 'private-key.pem'), meta: join(d, 'meta.json') };
  }

  async readCertificate(domain: string): Promise<StoredCertificate | undefined> {
    const p = this.certificatePaths(domain);
    const keyPem = await this.readSecret(p.key);
    const certPem = await this.readSecret(p.cert);
    return keyPem !== undefined && certPem !== undefined ? { certPem, keyPem } : undefined;
  }

  async writeCertificate(domain: string, c: StoredCertificate, meta: CertificateMeta): Promise<void> {
    const p = this.certificatePaths(domain);
    await this.mkdirPrivate(join(this.dir, 'certificates', domain));
    await this.write(p.key, c.keyPem);
    await this.write(p.cert, c.certPem);
    await this.write(p.meta, JSON.stringify(meta, null, 2) + '\n');
  }

  /** In-process only: one manager per directory is assumed (as before etcd storage existed). */
  async tryLock(domain: string): Promise<AcmeLock | undefined> {
    if (this.locked.has(domain)) return undefined;
    this.locked.add(domain);
    return {
      signal: new AbortController().signal,
      publishChallenge: async () => async () => {},
      release: async () => { this.locked.delete(domain); },
    };
  }

  async readChallenge(): Promise<undefined> { return undefined; }

  /** Nobody else writes here. */
  async watch(): Promise<() => Promise<void>> { return async () => {}; }

  async close(): Promise<void> {}

  private async mkdirPrivate(dir: string): Promise<void> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700); // mkdir's mode is masked by umask and ignored for existing dirs
    } catch (err) {
      throw storageError(dir, 'create directory', err);
    }
  }

  private async readSecret(path: string): Promise<string | undefined> {
    try {
      const s = await stat(path);
      const isKey = path.endsWith('account.key') || path.endsWith('private-key.pem');
      if (isKey && (s.mode & 0o077) !== 0) {
        this.logger.warn({ path, mode: (s.mode & 0o777).toString(8) }, 'ACME key file is readable by group or others; tightening to 0600');
        await chmod(path, 0o600);
      }
      return await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(path, 'read', err);
    }
  }

  private async write(path: string, content: string): Promise<void> {
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, content, { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, path);
    } catch (err) {
      throw storageError(path, 'write', err);
    }
  }
}
