/**
 * Start-up validation of every file a config names: readable, parsable, keys
 * matching their certificates, CAs that are CAs. Nothing in the request path
 * re-reads them.
 */
import { readFile, stat } from 'node:fs/promises';
import { isCountersignError } from '../errors.js';
import { loadCertificates, loadKeyMaterial, loadSigningCa, readTicketKeyFile } from '../pki/index.js';
import type { Config } from './schema.js';

async function read(path: string, at: string, problems: string[]): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(`${at}: cannot read ${path} (${code === 'ENOENT' ? 'no such file; run `countersign certs init` for a dev PKI, or fix the path' : code ?? (err as Error).message})`);
    return undefined;
  }
}

/**
 * A private key file that group or others may read or write is refused, as ssh
 * refuses such keys: whoever can read it can act as the proxy (the delegation
 * CA key: as any client). The mode of the file itself, symlinks followed.
 */
export async function keyModeProblem(path: string, at: string): Promise<string | undefined> {
  if (process.platform === 'win32') return undefined;
  let mode: number;
  try { mode = (await stat(path)).mode & 0o777; } catch { return undefined; } // unreadable: reported by read()
  if ((mode & 0o066) === 0) return undefined;
  return `${at}: private key ${path} is ${mode & 0o044 ? 'readable' : 'writable'} by ${mode & 0o060 ? 'group' : 'others'}${(mode & 0o060) && (mode & 0o006) ? ' and others' : ''} (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`;
}

function describe(err: unknown): string {
  return isCountersignError(err) ? err.message : (err as Error).message;
}

export async function checkConfigFiles(c: Config): Promise<string[]> {
  const problems: string[] = [];
  const pair = async (p: { cert: string; key: string }, at: string, ca = false) => {
    const cert = await read(p.cert, `${at}.cert`, problems);
    const key = await read(p.key, `${at}.key`, problems);
    if (!cert || !key) return;
    const modeProblem = await keyModeProblem(p.key, `${at}.key`);
    if (modeProblem) problems.push(modeProblem);
    try {
      (ca ? loadSigningCa : loadKeyMaterial)({ certPem: cert, keyPem: key, what: at });
    } catch (err) {
      problems.push(describe(err).startsWith(at) ? describe(err) : `${at}: ${describe(err)}`);
    }
  };
  const bundle = async (paths: string[] | undefined, at: string) => {
    for (const [i, p] of (paths ?? []).entries()) {
      const where = paths!.length > 1 ? `${at}[${i}]` : at;
      const b = await read(p, where, problems);
      if (!b) continue;
      try { loadCertificates(b, where); } catch (err) { problems.push(describe(err)); }
    }
  };
  for (const [i, p] of c.edge.certificates.entries()) await pair(p, `edge.certificates[${i}]`);
  await bundle(c.edge.clientAuth.ca, 'edge.clientAuth.ca');
  for (const [i, p] of (c.edge.clientAuth.crl ?? []).entries()) {
    const b = await read(p, `edge.clientAuth.crl[${i}]`, problems);
    if (b && !b.includes('-----BEGIN X509 CRL-----') && b[0] !== 0x30) problems.push(`edge.clientAuth.crl[${i}]: ${p} is not a PEM or DER CRL`);
  }
  if (c.edge.sessionTickets) {
    try { readTicketKeyFile(c.edge.sessionTickets.keyFile); } catch (err) { problems.push(describe(err)); }
  }
  if (c.edge.acme?.ca) await bundle([c.edge.acme.ca], 'edge.acme.ca');
  const etcd = typeof c.edge.acme?.storage === 'object' ? c.edge.acme.storage.etcd : undefined;
  if (etcd) {
    await pair(etcd.tls, 'edge.acme.storage.etcd.tls');
    await bundle([etcd.tls.ca], 'edge.acme.storage.etcd.tls.ca');
  }
  if (c.delegation) await pair(c.delegation.ca, 'delegation.ca', true);
  for (const [name, u] of Object.entries(c.upstreams)) await bundle(u.ca, `upstreams.${name}.ca`);
  for (const [i, r] of c.routes.entries()) if (r.proxyCert) await pair(r.proxyCert, `routes[${i}].proxyCert`);
  return problems;
}
