/**
 * `countersign certs status`: every edge certificate, its names, issuer, expiry
 * and where it comes from — files and ACME storage — without starting anything.
 */
import { X509Certificate } from 'node:crypto';
import { isCountersignError } from '../../errors.js';
import { acmeStorageFor, createEdgeCertificates } from '../../edge/edge-certificates.js';
import { silentLogger } from '../../observe/index.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../parse-args.js';
import { loadConfigForCli } from '../load-config-for-cli.js';

interface Row { source: string; names: string; issuer: string; notAfter: string; expiresIn: string; where: string }

function expiresIn(notAfter: Date | undefined, now = Date.now()): string {
  if (!notAfter) return '-';
  const s = Math.round((notAfter.getTime() - now) / 1000);
  if (s < 0) return 'EXPIRED';
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

const cn = (dn: string | undefined) => (dn ? (/CN=([^,\n]+)/.exec(dn)?.[1] ?? dn.replace(/\n/g, ', ')) : '-');

export const command: Command = {
  name: 'certs status',
  summary: 'list the edge certificates: names, issuer, expiry, source',
  usage: 'countersign certs status --config FILE [--json]',
  async run(args, io) {
    const { values } = parseCommandArgs(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, this.usage);
    if (!values.config) { io.err(`usage: ${this.usage}`); return 2; }
    const loaded = await loadConfigForCli(values.config, io, { checkFiles: false });
    if (!loaded) return 1;
    const { config } = loaded;
    const rows: Row[] = [];
    const json: unknown[] = [];
    if (config.edge.certificates.length) {
      try {
        const edge = await createEdgeCertificates({ config, logger: silentLogger, live: false });
        for (const c of edge.store.list()) {
          if (c.source !== 'file') continue;
          json.push(c);
          rows.push({
            source: c.isDefault ? 'file (default)' : 'file', names: c.names.join(','), issuer: cn(c.issuer),
            notAfter: c.notAfter?.toISOString() ?? '-', expiresIn: expiresIn(c.notAfter), where: c.paths?.cert ?? c.id,
          });
        }
        await edge.stop();
      } catch (err) {
        io.err(isCountersignError(err) ? err.message : (err as Error).message);
        return 1;
      }
    }
    const acme = config.edge.acme;
    if (acme) {
      let storage;
      try {
        storage = await acmeStorageFor(acme, silentLogger);
      } catch (err) {
        io.err(isCountersignError(err) ? err.message : (err as Error).message);
        return 1;
      }
      for (const domain of acme.domains) {
        const stored = await storage.readCertificate(domain).catch(() => undefined);
        const path = storage.certificatePaths(domain).cert;
        if (!stored) {
          rows.push({ source: 'acme', names: domain, issuer: '-', notAfter: '-', expiresIn: 'not issued yet', where: path });
          json.push({ source: 'acme', names: [domain], state: 'pending', path });
          continue;
        }
        const x = new X509Certificate(stored.certPem);
        const notAfter = new Date(x.validTo);
        rows.push({ source: 'acme', names: domain, issuer: cn(x.issuer), notAfter: notAfter.toISOString(), expiresIn: expiresIn(notAfter), where: path });
        json.push({ source: 'acme', names: [domain], issuer: x.issuer, notAfter, path, directory: acme.directory, challenge: acme.challenge });
      }
      await storage.close();
    }
    if (values.json) { io.out(JSON.stringify(json, null, 2)); return 0; }
    const head: Row = { source: 'SOURCE', names: 'NAMES', issuer: 'ISSUER', notAfter: 'NOT AFTER', expiresIn: 'EXPIRES IN', where: 'FILE' };
    const all = [head, ...rows];
    const w = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
    for (const r of all) io.out((['source', 'names', 'issuer', 'notAfter', 'expiresIn'] as (keyof Row)[]).map((k) => r[k].padEnd(w(k))).join('  ') + '  ' + r.where);
    return rows.some((r) => r.expiresIn === 'EXPIRED') ? 1 : 0;
  },
};
