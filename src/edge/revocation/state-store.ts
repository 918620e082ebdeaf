/**
 * The revocation state kept on disk, so a restart does not wait on the
 * network: one file per CRL distribution point under `<stateDir>/crl/`
 * (the CRL as DER, and beside it the URL and the issuer's certificate it was
 * verified with). Written atomically (temporary file, then rename; several
 * workers may write the same file), mode 0600 in a 0700 directory. What is
 * read back is checked again like a fetched CRL: parsed, and its signature
 * verified with the issuer in the client's path before it is used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredCrl { url: string; issuerPem: string; der: Buffer }

export class RevocationStateStore {
  private readonly dir: string;
  constructor(stateDir: string) { this.dir = join(stateDir, 'crl'); }

  private base(url: string): string { return join(this.dir, createHash('sha256').update(url).digest('hex').slice(0, 32)); }

  async save(c: StoredCrl): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const base = this.base(c.url);
    const tmp = `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(`${base}.json${tmp}`, JSON.stringify({ url: c.url, issuerPem: c.issuerPem }), { mode: 0o600 });
    await writeFile(`${base}.crl${tmp}`, c.der, { mode: 0o600 });
    await rename(`${base}.crl${tmp}`, `${base}.crl`);
    await rename(`${base}.json${tmp}`, `${base}.json`);
  }

  /** Every stored CRL that can be read whole; unreadable ones are skipped (they are fetched again). */
  async loadAll(): Promise<StoredCrl[]> {
    let names: string[];
    try { names = await readdir(this.dir); } catch { return []; }
    const out: StoredCrl[] = [];
    for (const n of names.filter((f) => f.endsWith('.json'))) {
      try {
        const meta = JSON.parse(await readFile(join(this.dir, n), 'utf8')) as { url?: unknown; issuerPem?: unknown };
        if (typeof meta.url !== 'string' || typeof meta.issuerPem !== 'string') continue;
        out.push({ url: meta.url, issuerPem: meta.issuerPem, der: await readFile(join(this.dir, n.replace(/\.json$/, '.crl'))) });
      } catch { /* skipped */ }
    }
    return out;
  }
}
