/**
 * Name → certificates, the way the edge picks a server certificate for a
 * ClientHello: exact name, then a wildcard one label up, then the default.
 * Pure data: building contexts and swapping state is the store's job.
 */
import type { KeySlot, ServerCertificate } from './server-certificate.js';
import { normalizeName } from './server-certificate.js';

export interface IndexedCertificate {
  id: string;
  /** 'acme' certificates win over 'file' certificates for the names they cover */
  precedence: number;
  cert: ServerCertificate;
}

/** The certificates served together for a name: at most one per key slot. */
export interface CertificateGroup {
  /** identifies the combination, so equal groups share one SecureContext */
  key: string;
  members: IndexedCertificate[];
}

export interface SniIndex {
  byName: Map<string, CertificateGroup>;
  defaultGroup: CertificateGroup;
  groups: CertificateGroup[];
}

/**
 * `ordered` is in configuration order; the first one with a name decides the
 * default. For each name only the certificates of the highest precedence are
 * kept, then the first per key slot, so RSA and ECDSA certificates for one name
 * end up in one group (OpenSSL picks by the client's signature algorithms).
 */
export function buildSniIndex(ordered: IndexedCertificate[], defaultId: string | undefined): SniIndex {
  const candidates = new Map<string, IndexedCertificate[]>();
  for (const c of ordered) {
    for (const name of [...c.cert.dnsNames, ...c.cert.ipAddresses]) {
      const list = candidates.get(name) ?? [];
      list.push(c);
      candidates.set(name, list);
    }
  }
  const groups = new Map<string, CertificateGroup>();
  const groupOf = (members: IndexedCertificate[]): CertificateGroup => {
    const key = members.map((m) => m.cert.certSha256).join('+');
    let g = groups.get(key);
    if (!g) { g = { key, members }; groups.set(key, g); }
    return g;
  };
  const byName = new Map<string, CertificateGroup>();
  for (const [name, list] of candidates) {
    const top = Math.max(...list.map((c) => c.precedence));
    const slots = new Set<KeySlot>();
    const members: IndexedCertificate[] = [];
    for (const c of list) {
      if (c.precedence !== top || slots.has(c.cert.keySlot)) continue;
      slots.add(c.cert.keySlot);
      members.push(c);
    }
    byName.set(name, groupOf(members));
  }
  const first = ordered.find((c) => c.id === defaultId) ?? ordered[0];
  let defaultGroup: CertificateGroup;
  if (!first) defaultGroup = groupOf([]);
  else {
    const primary = first.cert.dnsNames[0] ?? first.cert.ipAddresses[0];
    defaultGroup = (primary !== undefined ? byName.get(primary) : undefined) ?? groupOf([first]);
  }
  return { byName, defaultGroup, groups: [...groups.values()] };
}

/** Exact name, then `*.parent` for exactly one extra label, else undefined. */
export function lookupName<T>(byName: Map<string, T>, servername: string | undefined): T | undefined {
  if (!servername) return undefined;
  const name = normalizeName(servername);
  const exact = byName.get(name);
  if (exact) return exact;
  const dot = name.indexOf('.');
  // `*.example.com` must not match `example.com` itself nor `a.b.example.com` (RFC 6125 §6.4.3)
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return byName.get(`*.${name.slice(dot + 1)}`);
}
