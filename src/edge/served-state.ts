/**
 * The state a handshake reads: the SNI index over every source's certificates and
 * a SecureContext per group, all built ahead of time. Built whole or not at all
 * (a context OpenSSL refuses throws and nothing is swapped), so the store swaps
 * one reference and a handshake never sees half an update.
 */
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { CountersignError } from '../errors.js';
import type { ServerCertificate } from './server-certificate.js';
import { buildSniIndex, type CertificateGroup, type IndexedCertificate } from './sni-index.js';
import type { ServedLookup } from './certificate-source.js';

export interface ServedState {
  byName: Map<string, CertificateGroup>;
  defaultGroup: CertificateGroup;
  contexts: Map<string, SecureContext>;
  /** for groups of several certificates: one context per member, by member id */
  singles: Map<string, SecureContext>;
  trustGeneration: number;
}

export interface ServedInputs {
  /** file pairs in configuration order: the first is the default */
  files: readonly { id: string; cert: ServerCertificate }[];
  /** pushed sources' certificates (ACME): they win over files for their names */
  sources: readonly { id: string; cert?: ServerCertificate }[];
  /** bumped whenever the trust options or files change: contexts are then all rebuilt */
  trustGeneration: number;
  previous: ServedState | undefined;
  /** the options a context for these certificates gets (trust options, CA, CRL, cert, key) */
  contextOptions: (certs: ServerCertificate[]) => SecureContextOptions;
}

/** Builds every context up front; throws (and nothing is swapped) if OpenSSL refuses one. */
export function buildServedState({ files, sources, trustGeneration, previous, contextOptions }: ServedInputs): ServedState {
  const ordered: IndexedCertificate[] = [
    ...sources.filter((u) => u.cert).map((u) => ({ id: u.id, precedence: 1, cert: u.cert! })),
    ...files.map((u) => ({ id: u.id, precedence: 0, cert: u.cert })),
  ];
  const defaultId = files[0]?.id ?? sources.find((u) => u.cert)?.id;
  const index = buildSniIndex(ordered, defaultId);
  const create = (certs: ServerCertificate[]) => createContext(contextOptions(certs), certs);
  const contexts = new Map<string, SecureContext>();
  for (const group of [...index.groups, index.defaultGroup]) {
    if (contexts.has(group.key)) continue;
    // Unchanged certificates keep their context (and its session cache) unless the trust changed.
    const reuse = previous && previous.trustGeneration === trustGeneration ? previous.contexts.get(group.key) : undefined;
    contexts.set(group.key, reuse ?? create(group.members.map((m) => m.cert)));
  }
  const singles = new Map<string, SecureContext>();
  for (const group of [...index.groups, index.defaultGroup]) {
    if (group.members.length < 2) continue;
    for (const m of group.members) {
      if (singles.has(m.id)) continue;
      const reuse = previous && previous.trustGeneration === trustGeneration ? previous.singles.get(m.id) : undefined;
      singles.set(m.id, reuse ?? create([m.cert]));
    }
  }
  return { byName: index.byName, defaultGroup: index.defaultGroup, contexts, singles, trustGeneration };
}

/**
 * The trust options plus the file trust's CAs, and the certificates if any.
 * CRL files are not handed to OpenSSL, which would search them on every
 * handshake (measured: 330 → 118 new connections/s with a 100,000-entry
 * CRL): they are parsed and verified once and looked up per connection
 * (client-trust.ts). A `crl` in the trust options (library use) still goes.
 */
export function contextOptionsFor(
  trustOptions: Partial<SecureContextOptions>, trust: { ca: string[] }, certs: ServerCertificate[],
): SecureContextOptions {
  const options: SecureContextOptions = { ...trustOptions };
  const ca = [...asList(trustOptions.ca), ...trust.ca];
  if (ca.length) options.ca = ca; else delete options.ca;
  if (certs.length) {
    options.cert = certs.map((c) => c.material.certPem);
    options.key = certs.map((c) => c.material.keyPem);
  }
  return options;
}

/** For status rows: the names each certificate is served for now, and whether it is the default. */
export function servedLookup(state: ServedState): ServedLookup {
  const served = new Map<string, string[]>();
  for (const [name, group] of state.byName) {
    for (const m of group.members) served.set(m.id, [...(served.get(m.id) ?? []), name]);
  }
  const defaultIds = new Set(state.defaultGroup.members.map((m) => m.id));
  return (id) => ({ servedNames: served.get(id) ?? [], isDefault: defaultIds.has(id) });
}

function createContext(options: SecureContextOptions, certs: ServerCertificate[]): SecureContext {
  try {
    return createSecureContext(options);
  } catch (err) {
    throw new CountersignError('ERR_TLS_CONTEXT', `TLS context for ${certs.map((c) => c.dnsNames[0] ?? c.subject).join(' + ') || 'the default'} refused by OpenSSL: ${(err as Error).message}; check the trust options (ca, crl, ciphers, minVersion)`, { cause: err });
  }
}

function asList<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
