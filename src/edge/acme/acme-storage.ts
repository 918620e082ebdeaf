/**
 * What ACME leaves on disk, so a restart serves the stored certificate instead
 * of ordering a new one (and running into the CA's rate limits):
 *
 *   <storage>/<directory-key>/account.key                        0600
 *   <storage>/<directory-key>/account.json                       account URL, contact
 *   <storage>/<directory-key>/certificates/<domain>/certificate.pem
 *   <storage>/<directory-key>/certificates/<domain>/private-key.pem   0600
 *   <storage>/<directory-key>/certificates/<domain>/meta.json
 *
 * Directories are 0700. Keyed by directory (certmagic does the same) so that
 * switching from staging to production never serves a staging certificate.
 * Every file is written to a temp name and renamed, so a crash never leaves a
 * half-written key behind.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CountersignError } from '../../errors.js';
import { silentLogger, type EdgeLogger } from '../logger.js';

export interface StoredCertificate {
  certPem: string;
  keyPem: string;
}

export interface CertificateMeta {
  domain: string;
  directory: string;
  issuedAt: string;
}

export interface AcmeStorageOptions {
  root: string;
  directoryUrl: string;
  logger?: EdgeLogger;
}

export class AcmeStorage {
  readonly dir: string;
  private readonly logger: EdgeLogger;

  constructor(private readonly opts: AcmeStorageOptions) {
    this.dir = join(resolve(opts.root), directoryKey(opts.directoryUrl));
    this.logger = opts.logger ?? silentLogger;
  }

  async init(): Promise<void> {
    await this.mkdirPrivate(this.dir);
    await this.mkdirPrivate(join(this.dir, 'certificates'));
  }

  readAccountKey(): Promise<string | undefined> { return this.readSecret(join(this.dir, 'account.key')); }
  writeAccountKey(pem: string): Promise<void> { return this.write(join(this.dir, 'account.key'), pem); }
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

/** `https://acme-v02.api.letsencrypt.org/directory` → `acme-v02.api.letsencrypt.org-directory` */
export function directoryKey(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/^\/+|\/+$/g, '').replace(/\//g, '-');
  return `${u.hostname}${u.port ? `_${u.port}` : ''}${path ? `-${path}` : ''}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

function storageError(path: string, what: string, err: unknown): CountersignError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new CountersignError('ERR_ACME_STORAGE', `acme.storage: cannot ${what} ${path} (${code}); check that the directory exists and is writable by this user`, { cause: err });
}
