/**
 * The CA certificates a config names besides the edge's own — client CAs,
 * the delegation CA, upstream CAs — with their expiry, for /metrics,
 * /status and `certs status`. Read from the files when called (start-up,
 * reload, a one-shot command), never on a connection's path.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { certificatesDer } from '../pki/index.js';

export type CaKind = 'client-ca' | 'delegation-ca' | 'upstream-ca';

export interface CaCertificateExpiry {
  kind: CaKind;
  subject: string;
  issuer: string;
  notAfter: Date;
  file: string;
  /** upstream-ca: the upstream that uses it */
  upstream?: string;
}

/** Every certificate of every CA file in the config; a file that cannot be read is skipped (check reports it). */
export function caCertificates(config: Config): CaCertificateExpiry[] {
  const out: CaCertificateExpiry[] = [];
  const add = (kind: CaKind, file: string, upstream?: string) => {
    let ders: Buffer[];
    try { ders = certificatesDer(readFileSync(file)); } catch { return; }
    for (const der of ders) {
      const x = new X509Certificate(der);
      out.push({ kind, subject: commonName(x.subject), issuer: commonName(x.issuer), notAfter: new Date(x.validTo), file, upstream });
    }
  };
  for (const f of config.edge.clientAuth.ca ?? []) add('client-ca', f);
  if (config.delegation) add('delegation-ca', config.delegation.ca.cert);
  for (const [name, u] of Object.entries(config.upstreams)) for (const f of u.ca) add('upstream-ca', f, name);
  return out;
}

/** CN of an OpenSSL-style multi-line DN, or the whole DN on one line. */
export function commonName(dn: string | undefined): string {
  if (!dn) return '-';
  return /(?:^|\n)CN=([^\n]+)/.exec(dn)?.[1] ?? dn.replace(/\n/g, ', ');
}
