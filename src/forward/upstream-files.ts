/**
 * The files a generation's upstream TLS is built from — each upstream's CA
 * bundle and each route's proxy certificate — read and parsed once per
 * generation, each with the SHA-256 of its bytes. A reload reads them again
 * even when the config's text did not change, so a CA or proxyCert rotated in
 * place (then SIGHUP) is applied, and a reload that changed neither text nor
 * files builds nothing. Every process (each worker too) reads and parses them
 * itself: bytes that fail to parse refuse that process's reload, never a
 * connection later.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { CountersignError } from '../errors.js';
import { loadCertificates, loadKeyMaterial, type KeyMaterial } from '../pki/index.js';

export interface UpstreamFiles {
  /** upstream name → its CA bundle (the files' PEM text, joined) */
  readonly caPem: ReadonlyMap<string, string>;
  /** route index → its proxy certificate and key */
  readonly proxyCerts: ReadonlyMap<number, KeyMaterial>;
  /** config key (`upstreams.kes.ca`, `routes[0].proxyCert`) → the paths read and the SHA-256 of their bytes */
  readonly read: ReadonlyMap<string, { paths: string; digest: string }>;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CountersignError('ERR_CONFIG_FILE', `${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

const digestOf = (texts: string[]) => {
  const h = createHash('sha256');
  for (const t of texts) h.update(`${t.length}\0`).update(t);
  return h.digest('hex');
};

/** Reads and parses every upstream CA bundle and route proxy certificate of `config`; throws a CountersignError naming the key. */
export function readUpstreamFiles(config: Config): UpstreamFiles {
  const caPem = new Map<string, string>();
  const proxyCerts = new Map<number, KeyMaterial>();
  const read = new Map<string, { paths: string; digest: string }>();
  for (const [name, u] of Object.entries(config.upstreams)) {
    const what = `upstreams.${name}.ca`;
    const texts = u.ca.map((path) => {
      const text = readText(path, what);
      loadCertificates(text, `${what} (${path})`);
      return text;
    });
    caPem.set(name, texts.join('\n'));
    read.set(what, { paths: u.ca.join('\n'), digest: digestOf(texts) });
  }
  for (const [i, r] of config.routes.entries()) {
    if (!r.proxyCert) continue;
    const what = `routes[${i}].proxyCert`;
    const certPem = readText(r.proxyCert.cert, `${what}.cert`);
    const keyPem = readText(r.proxyCert.key, `${what}.key`);
    proxyCerts.set(i, loadKeyMaterial({ certPem, keyPem, what }));
    read.set(what, { paths: `${r.proxyCert.cert}\n${r.proxyCert.key}`, digest: digestOf([certPem, keyPem]) });
  }
  return { caPem, proxyCerts, read };
}

/** The keys whose files are the same paths as before but hold other bytes now (a change of path is a config change). */
export function rotatedUpstreamFiles(before: UpstreamFiles, after: UpstreamFiles): string[] {
  return [...after.read].filter(([key, now]) => {
    const then = before.read.get(key);
    return then !== undefined && then.paths === now.paths && then.digest !== now.digest;
  }).map(([key]) => key);
}
