/**
 * Access rules at the edge (`allow` per route, `edge.allow` as the default):
 * ghostunnel's --allow-cn/-ou/-dns/-uri/-email semantics, plus identities. A
 * client is allowed when ANY listed value matches its certificate; an
 * anonymous client matches no rule. Rules are compiled once (sets and parsed
 * SPIFFE patterns), and a certificate's names are extracted once per
 * certificate (the verifier keeps one CertificateInfo per DER), so a check is a
 * few set lookups.
 *
 * A rule on names (cn, ou, o, dns, uri, email) matches only names a configured
 * client CA vouched for: in clientAuth mode any a client that chains to no CA
 * wrote its names itself, so only `identities` can admit it.
 */
import type { AllowConfig, Config, RouteConfig } from '../config/index.js';
import { certificateNames, parseSpiffePattern, spiffeMatches, type CertificateInfo, type CertificateNames, type SpiffePattern } from '../pki/index.js';
import { CountersignError } from '../errors.js';

export interface AccessRule {
  /** where the rule is configured, for the log: `routes[2].allow`, `edge.allow` */
  readonly where: string;
  /**
   * whether the client (undefined: anonymous) is allowed; `namesVouched`: a
   * configured client CA vouched for its names (ClientVerdict.namesVouched),
   * else its names match nothing
   */
  allows(client: CertificateInfo | undefined, namesVouched: boolean): boolean;
}

const namesCache = new WeakMap<CertificateInfo, CertificateNames>();
function namesOf(client: CertificateInfo): CertificateNames {
  let n = namesCache.get(client);
  if (!n) {
    // a name part that does not decode matches nothing (the client is refused, never the proxy taken down)
    try { n = certificateNames(client.fields); } catch { n = { cn: [], ou: [], o: [], dns: [], email: [], uri: [] }; }
    namesCache.set(client, n);
  }
  return n;
}

const anyIn = (set: Set<string> | undefined, values: string[]) => set !== undefined && values.some((v) => set.has(v));
/** email: the local part as written, the domain case-insensitively */
const emailKey = (e: string) => { const at = e.lastIndexOf('@'); return at < 0 ? e : e.slice(0, at + 1) + e.slice(at + 1).toLowerCase(); };

/** Compiles one `allow` block; throws ERR_CONFIG_INVALID for what the schema would refuse (an empty rule or list, a malformed SPIFFE ID). */
export function compileAccessRule(allow: AllowConfig, where: string): AccessRule {
  const lists = Object.entries(allow).filter(([, v]) => v !== undefined) as [keyof AllowConfig, string[]][];
  if (lists.length === 0) throw new CountersignError('ERR_CONFIG_INVALID', `${where}: an allow rule with no list can never match`);
  for (const [k, v] of lists) if (v.length === 0) throw new CountersignError('ERR_CONFIG_INVALID', `${where}.${k}: an empty list can never match`);
  const set = (v: string[] | undefined, f: (s: string) => string = (s) => s) => (v ? new Set(v.map(f)) : undefined);
  const cn = set(allow.cn);
  const ou = set(allow.ou);
  const o = set(allow.o);
  const dns = set(allow.dns, (d) => d.toLowerCase().replace(/\.$/, ''));
  const email = set(allow.email, emailKey);
  const identities = set(allow.identities, (i) => i.toLowerCase());
  const uris: SpiffePattern[] = (allow.uri ?? []).map((u, i) => {
    const p = parseSpiffePattern(u);
    if ('error' in p) throw new CountersignError('ERR_CONFIG_INVALID', `${where}.uri[${i}]: "${u}" is not a SPIFFE ID: ${p.error}`);
    return p;
  });
  const needsNames = cn || ou || o || dns || email || uris.length > 0;
  return {
    where,
    allows(client, namesVouched) {
      if (!client) return false;
      if (identities?.has(client.identity)) return true;
      if (!needsNames || !namesVouched) return false;
      const n = namesOf(client);
      return anyIn(cn, n.cn) || anyIn(ou, n.ou) || anyIn(o, n.o) || anyIn(dns, n.dns)
        || (email !== undefined && n.email.some((e) => email.has(emailKey(e))))
        || uris.some((p) => n.uri.some((u) => spiffeMatches(p, u)));
    },
  };
}

/** The access rules of a config: each route's own, else edge.allow, else none. */
export class AccessRules {
  private readonly byRoute = new Map<RouteConfig, AccessRule>();
  constructor(config: Pick<Config, 'routes' | 'edge'>) {
    const edge = config.edge.allow ? compileAccessRule(config.edge.allow, 'edge.allow') : undefined;
    config.routes.forEach((r, i) => {
      const rule = r.allow ? compileAccessRule(r.allow, `routes[${i}].allow`) : edge;
      if (rule) this.byRoute.set(r, rule);
    });
  }

  /** The rule that refuses this client on this route (for the log), or undefined when it is allowed. */
  refusedBy(route: RouteConfig, client: CertificateInfo | undefined, namesVouched: boolean): string | undefined {
    const rule = this.byRoute.get(route);
    return rule && !rule.allows(client, namesVouched) ? rule.where : undefined;
  }
}
