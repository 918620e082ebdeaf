/**
 * `check --connect`: the identities the proxy would present to each upstream
 * (a throwaway certificate minted by the delegation CA for a probe client,
 * each header route's proxyCert), and one line per server and identity.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.js';
import { delegationMinterFor } from '../runtime/index.js';
import { checkUpstream, presentedIdentity, type CheckIdentity, type ServerCheck } from '../forward/index.js';
import { describeCertificate, loadKeyMaterial } from '../pki/index.js';
import { issueCertificate } from '../pki/dev/index.js';
import type { CliIo } from './command.js';

/** subject of the probe client whose certificate is minted for the check */
export const PROBE_SUBJECT = 'CN=countersign-check-connect';

async function identitiesFor(config: Config): Promise<Map<string, CheckIdentity[]>> {
  const byUpstream = new Map<string, CheckIdentity[]>();
  let delegated: CheckIdentity | undefined;
  const add = (u: string, id: CheckIdentity) => {
    const list = byUpstream.get(u) ?? [];
    if (!list.some((x) => x.label === id.label)) list.push(id);
    byUpstream.set(u, list);
  };
  for (const [i, r] of config.routes.entries()) {
    if ((r.identity === 'delegated' || r.identity === 'both') && config.delegation) {
      if (!delegated) {
        // a throwaway client, minted exactly as a real one would be (extension, chain, key type)
        const probe = await issueCertificate({ subject: PROBE_SUBJECT });
        const minter = delegationMinterFor(config.delegation, { keyPoolSize: 1 });
        const c = minter.credentialsFor(describeCertificate(new X509Certificate(probe.certPem)), { namesVouched: false });
        delegated = {
          label: 'delegated', credentials: { certPem: c.chainPem, keyPem: c.keyPem },
          presenting: presentedIdentity('delegated', 'delegation.ca', readFileSync(config.delegation.ca.cert)),
        };
      }
      add(r.upstream, delegated);
    }
    if (r.identity === 'header' && r.proxyCert) {
      const m = loadKeyMaterial({ certPem: readFileSync(r.proxyCert.cert), keyPem: readFileSync(r.proxyCert.key), what: `routes[${i}].proxyCert` });
      add(r.upstream, { label: `routes[${i}].proxyCert`, credentials: { certPem: m.certPem, keyPem: m.keyPem }, presenting: presentedIdentity('proxyCert', `routes[${i}].proxyCert`, m.certPem) });
    }
  }
  for (const name of Object.keys(config.upstreams)) {
    if (!byUpstream.has(name)) byUpstream.set(name, [{ label: 'anonymous', presenting: { what: 'none' } }]);
  }
  return byUpstream;
}

export function formatServerCheck(r: ServerCheck, showIdentity: boolean): string {
  const who = `${r.upstream} ${r.server}${showIdentity ? ` as ${r.identity}` : ''}`;
  if (r.ok) {
    const alpn = r.speaks === undefined ? 'ALPN unknown (the probe got no answer)'
      : r.alpnSource === 'protocol' ? 'no ALPN (the server speaks first)'
      : r.speaks.length ? `ALPN ${r.speaks.join(', ')} (${r.alpnSource})` : `no ALPN (${r.alpnSource})`;
    const accepted = r.accepted === 'no-alert' ? 'client certificate not refused' : 'client certificate accepted';
    return `ok    ${who}: ${r.tls ?? 'TLS'}, ${alpn}, ${accepted}`;
  }
  if (r.diagnosis) return `FAIL  ${who}: ${r.diagnosis.message} [${r.diagnosis.kind}; change: ${r.diagnosis.fix}]`;
  return `FAIL  ${who}: ${r.error}`;
}

/** Checks every upstream server; prints a line each; returns how many failed. */
export async function runConnectChecks(config: Config, io: CliIo): Promise<number> {
  const identities = await identitiesFor(config);
  const results = await Promise.all(Object.entries(config.upstreams).map(([name, u]) => checkUpstream({
    name, upstream: u, caPem: u.ca.map((f) => readFileSync(f, 'utf8')).join('\n'), identities: identities.get(name)!,
  })));
  let failed = 0;
  for (const [i, list] of results.entries()) {
    const several = (identities.get(Object.keys(config.upstreams)[i])?.length ?? 0) > 1;
    for (const r of list) {
      if (!r.ok) failed++;
      (r.ok ? io.out : io.err)(formatServerCheck(r, several));
    }
  }
  return failed;
}
