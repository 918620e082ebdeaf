/**
 * What `check` and `start` refuse or warn about in the certificates a config
 * names, beyond "readable, parsable, key matches" (check-files.ts): what would
 * break clients at run time. Decided the way `nginx -t` separates [emerg] from
 * [warn] (docs/configuration.md, "What check refuses"):
 *
 * - problems (exit 1; `start` refuses too): a certificate that is expired or
 *   not yet valid (edge certificates and their chains, the delegation CA,
 *   proxy certificates); a CA setting (edge.clientAuth.ca, upstreams.*.ca,
 *   edge.acme.ca) with no certificate that can verify anything (every entry
 *   expired, or every entry a CA:FALSE certificate that is not self-signed);
 * - warnings (printed by `check`, logged by `start`; `check --strict` counts
 *   them as problems): a certificate that expires within delegation.ttl; a
 *   single CA entry that is expired or verifies nothing while others remain; a
 *   self-signed CA:FALSE certificate as edge.clientAuth.ca (it admits that one
 *   certificate only); a route `match.sni` that no edge certificate (nor an
 *   ACME domain) covers, so its clients would get the default certificate and
 *   fail the name check — warned, not refused, because a client may pin or
 *   not check names, and a covering certificate can arrive by hot reload.
 *
 * Files that cannot be read or parsed are skipped here: check-files.ts has
 * reported them.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadCertificates } from '../pki/index.js';
import { DEFAULTS, type Config } from './schema.js';
import { parseDuration } from './duration.js';

export interface CheckResult { problems: string[]; warnings: string[] }

const subjectOf = (c: X509Certificate) => c.subject.replace(/\n/g, ', ');
// not checkIssued(): OpenSSL's issuer check wants keyCertSign, which a self-signed leaf lacks
const selfSigned = (c: X509Certificate) => { try { return c.subject === c.issuer && c.verify(c.publicKey); } catch { return false; } };

function certificatesIn(path: string, what: string): X509Certificate[] {
  try { return loadCertificates(readFileSync(path), what); } catch { return []; }
}

/** "in 25 min" / "in 3 h" for messages */
function inWords(ms: number): string {
  if (ms < 3_600_000) return `in ${Math.max(1, Math.round(ms / 60_000))} min`;
  if (ms < 172_800_000) return `in ${Math.round(ms / 3_600_000)} h`;
  return `in ${Math.round(ms / 86_400_000)} days`;
}

export function checkCertificates(config: Config, now = Date.now()): CheckResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const soonMs = config.delegation?.ttl ?? parseDuration(DEFAULTS.delegationTtl)!;
  const soonText = config.delegation ? `within delegation.ttl (${Math.round(soonMs / 60_000)} min)` : `within ${DEFAULTS.delegationTtl}`;

  /** lifetime of one certificate: a problem when outside it, a warning when it ends soon */
  const lifetime = (cert: X509Certificate, at: string, out: { problem: (m: string) => void }) => {
    const from = cert.validFromDate.getTime();
    const to = cert.validToDate.getTime();
    if (now > to) out.problem(`${at}: "${subjectOf(cert)}" expired at ${cert.validToDate.toISOString()}; renew it`);
    else if (now < from) out.problem(`${at}: "${subjectOf(cert)}" is not valid before ${cert.validFromDate.toISOString()}; check the clock`);
    else if (to - now <= soonMs) warnings.push(`${at}: "${subjectOf(cert)}" expires ${inWords(to - now)} (${cert.validToDate.toISOString()}), ${soonText}; renew it`);
  };

  // a certificate presented or used to sign: the whole chain must be valid
  const chain = (path: string, at: string) => {
    const certs = certificatesIn(path, at);
    certs.forEach((cert, i) => lifetime(cert, certs.length > 1 ? `${at} (certificate #${i + 1} of ${path})` : at, { problem: (m) => problems.push(m) }));
    return certs;
  };

  // a trust setting: usable if at least one entry can verify something now
  const trust = (paths: string[] | undefined, at: string, options: { pinIsSuspicious: boolean }) => {
    if (!paths?.length) return;
    const local: string[] = [];
    let usable = 0;
    for (const path of paths) {
      const certs = certificatesIn(path, at);
      certs.forEach((cert, i) => {
        const where = `${at}: certificate #${i + 1} of ${path}`;
        let bad = false;
        lifetime(cert, where, { problem: (m) => { local.push(m); bad = true; } });
        if (!cert.ca) {
          if (!selfSigned(cert)) { local.push(`${where}: "${subjectOf(cert)}" is not a CA certificate (basicConstraints CA:TRUE is missing) and not self-signed, so it verifies nothing; give the CA that issued it`); bad = true; }
          else if (options.pinIsSuspicious) warnings.push(`${where}: "${subjectOf(cert)}" is not a CA certificate; it admits exactly this one self-signed certificate and no other; give the issuing CA to admit its clients`);
        }
        if (!bad) usable++;
      });
    }
    if (usable === 0 && local.length) problems.push(`${at}: no certificate in ${paths.join(', ')} can verify anything now`, ...local.map((m) => `  ${m}`));
    else warnings.push(...local);
  };

  const edgeLeaves: X509Certificate[] = [];
  config.edge.certificates.forEach((p, i) => { const certs = chain(p.cert, `edge.certificates[${i}].cert`); if (certs[0]) edgeLeaves.push(certs[0]); });
  trust(config.edge.clientAuth.ca, 'edge.clientAuth.ca', { pinIsSuspicious: true });
  if (config.edge.acme?.ca) trust([config.edge.acme.ca], 'edge.acme.ca', { pinIsSuspicious: false });
  if (config.delegation) chain(config.delegation.ca.cert, 'delegation.ca.cert');
  for (const [name, u] of Object.entries(config.upstreams)) trust(u.ca, `upstreams.${name}.ca`, { pinIsSuspicious: false });
  config.routes.forEach((r, i) => { if (r.proxyCert) chain(r.proxyCert.cert, `routes[${i}].proxyCert.cert`); });

  // route names the served certificates cannot match
  const acmeDomains = new Set((config.edge.acme?.domains ?? []).map((d) => d.trim().toLowerCase().replace(/\.$/, '')));
  config.routes.forEach((r, i) => {
    const sni = r.match?.sni?.trim().toLowerCase().replace(/\.$/, '');
    if (!sni) return;
    // a pattern *.example.com is covered by a certificate that matches any one label under it
    const probe = sni.startsWith('*.') ? `countersign-sni-check${sni.slice(1)}` : sni;
    const covered = edgeLeaves.some((leaf) => leaf.checkHost(probe) !== undefined) || acmeDomains.has(sni);
    if (!covered) {
      warnings.push(`routes[${i}].match.sni: no edge certificate${config.edge.acme ? ' or ACME domain' : ''} covers "${r.match!.sni}"; its clients would get the default certificate and fail the name check (add a certificate with that subjectAltName)`);
    }
  });
  return { problems, warnings };
}
