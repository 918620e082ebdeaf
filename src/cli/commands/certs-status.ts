/**
 * `countersign certs status`: every certificate the proxy depends on — the edge
 * certificates (files and ACME), the client CAs, the delegation CA and the
 * upstream CAs — with names, issuer and expiry, and every revocation source
 * (CRL files, distribution points, OCSP responders) with its freshness. With `admin.listen` configured
 * it asks the running proxy (what it serves now); otherwise, or when the proxy
 * does not answer, it reads the files. The table is always printed; the exit
 * code is 1 when anything has expired, or expires within `--warn` (for cron or
 * a monitoring check).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/index.js';
import { parseDuration } from '../../config/index.js';
import { CountersignError } from '../../errors.js';
import { acmeStorageFor, crlDers, crlSourceStatus, parseCrl, type RevocationSourceStatus } from '../../edge/index.js';
import { caCertificates, commonName, silentLogger } from '../../observe/index.js';
import { certificatesDer } from '../../pki/index.js';
import type { ProxyStatus } from '../../proxy.js';
import type { Command } from '../command.js';
import { adminRequest } from '../admin-request.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';

interface Row { kind: string; names: string; issuer: string; notAfter?: Date; note?: string; where: string }

function expiresIn(notAfter: Date | undefined, now = Date.now()): string {
  if (!notAfter) return '-';
  const s = Math.round((notAfter.getTime() - now) / 1000);
  if (s < 0) return 'EXPIRED';
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const sanNames = (x: X509Certificate) => (x.subjectAltName ?? '').split(', ').filter(Boolean).map((n) => n.replace(/^(DNS|IP Address):/, ''));

/** Edge certificate files, read directly: an expired or broken one still gets its row. */
function edgeFileRows(config: Config): Row[] {
  return config.edge.certificates.map((c, i): Row => {
    const kind = i === 0 ? 'edge (default)' : 'edge';
    try {
      const x = new X509Certificate(certificatesDer(readFileSync(c.cert))[0]);
      return { kind, names: sanNames(x).join(',') || commonName(x.subject), issuer: commonName(x.issuer), notAfter: new Date(x.validTo), where: c.cert };
    } catch (err) {
      return { kind, names: '-', issuer: '-', note: `unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, where: c.cert };
    }
  });
}

async function acmeRows(config: Config): Promise<Row[]> {
  const acme = config.edge.acme;
  if (!acme) return [];
  const rows: Row[] = [];
  let storage;
  try {
    storage = await acmeStorageFor(acme, silentLogger);
  } catch (err) {
    // etcd unreachable, a directory we cannot read: every ACME name is reported, none silently left out
    for (const domain of acme.domains) rows.push({ kind: 'edge (acme)', names: domain, issuer: '-', note: `unreadable: ${(err as Error).message}`, where: typeof acme.storage === 'string' ? acme.storage : 'etcd' });
    return rows;
  }
  try {
    for (const domain of acme.domains) {
      const stored = await storage.readCertificate(domain).catch(() => undefined);
      const where = storage.certificatePaths(domain).cert;
      if (!stored) { rows.push({ kind: 'edge (acme)', names: domain, issuer: '-', note: 'not issued yet', where }); continue; }
      const x = new X509Certificate(stored.certPem);
      rows.push({ kind: 'edge (acme)', names: domain, issuer: commonName(x.issuer), notAfter: new Date(x.validTo), where });
    }
  } finally {
    await storage.close();
  }
  return rows;
}

function caRows(config: Config): Row[] {
  return caCertificates(config).map((c) => ({
    kind: c.upstream ? `upstream-ca (${c.upstream})` : c.kind, names: c.subject, issuer: c.issuer, notAfter: c.notAfter, where: c.file,
  }));
}

/** A revocation source's row: NOT AFTER is its nextUpdate (past it plus the grace, its clients meet onUnavailable). */
function revocationRow(r: Pick<RevocationSourceStatus, 'kind' | 'source' | 'issuer' | 'entries' | 'state' | 'lastError'> & { nextUpdate?: string | Date; lastSuccess?: string | Date }): Row {
  const fetched = r.lastSuccess ? `, read ${new Date(r.lastSuccess).toISOString()}` : '';
  return {
    kind: `revocation (${r.kind})`, names: r.issuer ? `CRL of ${r.issuer}` : 'OCSP', issuer: `${r.entries} entries`,
    notAfter: r.nextUpdate ? new Date(r.nextUpdate) : undefined,
    note: r.state === 'fresh' && !r.lastError ? undefined : `${r.state}${fetched}${r.lastError ? `; last error: ${r.lastError}` : ''}`,
    where: r.source,
  };
}

/** The CRL files of the config, read directly. */
function crlFileRows(config: Config): Row[] {
  const graceMs = config.edge.clientAuth.revocation.grace;
  return (config.edge.clientAuth.crl ?? []).flatMap((path): Row[] => {
    try {
      const bytes = readFileSync(path);
      return crlDers(bytes, path).map((d) => revocationRow(crlSourceStatus(parseCrl(d, path), { kind: 'crl-file', graceMs })));
    } catch (err) {
      return [{ kind: 'revocation (crl-file)', names: '-', issuer: '-', note: `unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, where: path }];
    }
  });
}

function rowsFromStatus(s: ProxyStatus): Row[] {
  const edge = s.certificates.map((c): Row => ({
    kind: `edge (${c.source}${c.isDefault ? ', default' : ''})`, names: c.names.join(',') || '-', issuer: commonName(c.issuer),
    notAfter: c.notAfter ? new Date(c.notAfter) : undefined, note: c.notAfter ? undefined : 'not loaded yet', where: c.file ?? c.id,
  }));
  const cas = s.cas.map((c): Row => ({
    kind: c.upstream ? `upstream-ca (${c.upstream})` : c.kind, names: c.subject, issuer: c.issuer, notAfter: new Date(c.notAfter), where: c.file,
  }));
  return [...edge, ...cas, ...(s.revocation?.sources ?? []).map(revocationRow)];
}

export const command: Command = {
  name: 'certs status',
  summary: 'list every certificate (edge, client CA, delegation CA, upstream CAs) with its expiry',
  usage: 'countersign certs status --config FILE [--warn 14d] [--json] [--files]',
  async run(args, io) {
    const { values } = parseCommandArgs(args, {
      config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, warn: { type: 'string' }, files: { type: 'boolean' },
    }, this.usage);
    if (!values.config) { io.err(`usage: ${this.usage}`); return 2; }
    const warnMs = values.warn === undefined ? undefined : parseDuration(values.warn);
    if (values.warn !== undefined && warnMs === undefined) {
      throw new CountersignError('ERR_USAGE', `--warn: "${values.warn}" is not a duration; write it like 14d or 36h\nusage: ${this.usage}`);
    }
    const loaded = await loadConfigForCli(values.config, io, { checkFiles: false });
    if (!loaded) return 1;
    const { config } = loaded;

    let rows: Row[] | undefined;
    let from = 'files';
    if (config.admin && !values.files) {
      try {
        const r = await adminRequest(config.admin.listen, '/status');
        if (r.status !== 200) throw new Error(`answered ${r.status}`);
        rows = rowsFromStatus(r.body as ProxyStatus);
        from = `the running proxy (admin ${config.admin.listen})`;
      } catch (err) {
        io.err(`admin ${config.admin.listen}: ${(err as Error).message}; reading the files instead`);
      }
    }
    rows ??= [...edgeFileRows(config), ...await acmeRows(config), ...caRows(config), ...crlFileRows(config)];

    const now = Date.now();
    const expired = (r: Row) => r.notAfter !== undefined && r.notAfter.getTime() <= now;
    const soon = (r: Row) => warnMs !== undefined && r.notAfter !== undefined && !expired(r) && r.notAfter.getTime() - now <= warnMs;
    const failing = rows.filter((r) => expired(r) || soon(r) || r.note?.startsWith('unreadable'));

    if (values.json) {
      io.out(JSON.stringify({ from, rows: rows.map((r) => ({ ...r, notAfter: r.notAfter?.toISOString(), expired: expired(r), withinWarn: soon(r) })) }, null, 2));
      return failing.length ? 1 : 0;
    }
    const cells = (r: Row) => [
      r.kind, r.names, r.issuer, r.notAfter?.toISOString() ?? '-',
      r.note ?? (expired(r) ? 'EXPIRED' : soon(r) ? `${expiresIn(r.notAfter, now)} (< ${values.warn})` : expiresIn(r.notAfter, now)),
      r.where,
    ];
    const table = [['KIND', 'NAMES / SUBJECT', 'ISSUER', 'NOT AFTER', 'EXPIRES IN', 'FILE'], ...rows.map(cells)];
    const widths = table[0].map((_, i) => Math.max(...table.map((t) => t[i].length)));
    io.out(`certificates, from ${from}:`);
    for (const t of table) io.out(t.map((c, i) => (i === t.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
    if (failing.length) io.err(`${failing.length} certificate${failing.length === 1 ? '' : 's'} expired${warnMs !== undefined ? ` or expiring within ${values.warn}` : ''}${failing.some((r) => r.note) ? ' or unreadable' : ''}`);
    return failing.length ? 1 : 0;
  },
};
