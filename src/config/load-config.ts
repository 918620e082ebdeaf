/**
 * YAML file → validated, typed Config with absolute paths. Every problem is
 * reported at once, each prefixed with the path of the bad key, so `check` can
 * print them all.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { CountersignError } from '../errors.js';
import { didYouMean } from '../did-you-mean.js';
import { acmeSettingsProblems } from './acme-checks.js';
import { configSchema, REMOVED_KEYS, type AllowConfig, type Config } from './schema.js';
import { checkCertificates } from './check-certificates.js';
import { checkConfigFiles } from './check-files.js';
import { hostPortOf } from './host-port.js';
import { IDENTITY_HEADER_CODECS } from '../identity-headers/index.js';
import { listenerProblems } from './listeners.js';

export class ConfigError extends CountersignError {
  /** what would have been warned about too (see check-certificates.ts) */
  readonly warnings: string[];
  /** the validated config when only cross-checks failed (its files can still be checked) */
  readonly config?: Config;
  constructor(readonly file: string, readonly problems: string[], extra: { warnings?: string[]; config?: Config } = {}) {
    super('ERR_CONFIG_INVALID', `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`);
    this.warnings = extra.warnings ?? [];
    this.config = extra.config;
  }
}

export interface LoadedConfig {
  config: Config;
  /** absolute path of the file it came from (or "<embedded>") */
  file: string;
  /** what `check` prints as warnings and `start` logs (certificates expiring soon, names no certificate covers, …) */
  warnings: string[];
  /** SHA-256 of the file's text, hex (shown by /status) */
  digest: string;
  loadedAt: Date;
}

/** The value at `path` in the raw input (for quoting what was written). */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** The keys the schema knows for the object at `path` (through optional, default, array, record and pipe wrappers). */
function keysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  type Def = { type: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown; element?: unknown; valueType?: unknown; options?: unknown[] };
  const def = (s: unknown) => (s as { _zod: { def: Def } })._zod.def;
  const unwrap = (s: unknown): unknown => {
    for (;;) {
      const d = def(s);
      if (d.innerType) s = d.innerType;
      else if (d.type === 'pipe') s = d.in;
      else if (d.type === 'union') s = d.options!.find((o) => def(unwrap(o)).type === 'object') ?? d.options![0];
      else return s;
    }
  };
  let s = unwrap(schema);
  for (const k of path) {
    const d = def(s);
    if (d.type === 'object' && typeof k === 'string' && d.shape?.[k]) s = unwrap(d.shape[k]);
    else if (d.type === 'array') s = unwrap(d.element);
    else if (d.type === 'record') s = unwrap(d.valueType);
    else return [];
  }
  const d = def(s);
  return d.type === 'object' ? Object.keys(d.shape ?? {}) : [];
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

type Issue = z.core.$ZodIssue;

/** A union's "Invalid input" is replaced by the issues of the one branch of the input's type (e.g. acme.storage's object form). */
function flattenUnions(issues: readonly Issue[]): Issue[] {
  return issues.flatMap((i) => {
    if (i.code !== 'invalid_union' || !i.errors?.length) return [i];
    const fitting = i.errors.filter((branch) => !branch.every((b) => b.code === 'invalid_type' && b.path.length === 0));
    if (fitting.length !== 1) return [i];
    return flattenUnions(fitting[0].map((b) => ({ ...b, path: [...i.path, ...b.path] }) as Issue));
  });
}

/** Validates an already-parsed object; `baseDir` resolves relative file paths. */
export function parseConfigObject(input: unknown, baseDir: string, file = '<config>'): Config {
  const r = configSchema.safeParse(input ?? {});
  if (!r.success) {
    throw new ConfigError(file, flattenUnions(r.error.issues).map((i) => {
      if (i.code === 'unrecognized_keys') {
        const removed = i.keys.map((k) => pathText([...i.path, k])).filter((k) => REMOVED_KEYS[k]);
        if (removed.length === i.keys.length) return removed.map((k) => `${k}: ${REMOVED_KEYS[k]}`).join('; ');
        const known = keysAt(configSchema, i.path);
        return `${pathText(i.path)}: unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"${didYouMean(k, known)}`).join(', ')}`;
      }
      if (i.code === 'invalid_value' && i.values.every((v) => typeof v === 'string')) {
        const got = valueAt(input, i.path);
        const allowed = i.values as string[];
        return `${pathText(i.path)}: ${typeof got === 'string' ? `"${got}"` : JSON.stringify(got)} is not one of ${allowed.join(', ')}${typeof got === 'string' ? didYouMean(got, allowed) : ''}`;
      }
      if (i.code === 'invalid_type' && i.message.includes('received undefined')) return `${pathText(i.path)}: is required`;
      return `${pathText(i.path)}: ${i.message}`;
    }));
  }
  const config = r.data;
  const problems = crossCheck(config);
  resolvePaths(config, baseDir);
  defaultPidFile(config, file);
  if (problems.length) throw new ConfigError(file, problems, { config });
  return config;
}

function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  config.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    // own names only: `constructor`, `toString`, `__proto__` are no upstream unless defined
    if (!Object.hasOwn(config.upstreams, r.upstream)) problems.push(`${at}.upstream: no upstream named "${r.upstream}" (known: ${Object.keys(config.upstreams).join(', ') || 'none'})`);
    if (r.mode === 'connection' && r.identity !== 'delegated') problems.push(`${at}.identity: "${r.identity}" needs mode: http (headers are HTTP); connection mode forwards identity as a delegated certificate`);
    if (r.mode === 'connection' && (r.match?.host || r.match?.pathPrefix)) problems.push(`${at}.match: host and pathPrefix need mode: http; connection mode routes by sni only`);
    if (r.identity === 'header' && !r.proxyCert) problems.push(`${at}.proxyCert: is required with identity: header (the proxy's own client certificate, trusted by the backend as a proxy)`);
    if ((r.identity === 'delegated' || r.identity === 'both') && !config.delegation) problems.push(`${at}.identity: "${r.identity}" needs a delegation section with the delegation CA`);
    if (r.allow) problems.push(...allowProblems(r.allow, `${at}.allow`, config.edge.clientAuth));
    if ((r.identity === 'header' || r.identity === 'both') && config.edge.clientAuth.mode === 'any' && IDENTITY_HEADER_CODECS[r.header].sendsNames) {
      problems.push(`${at}.header: "${r.header}" sends the client's names (${r.header === 'xfcc' ? 'Subject=, URI=, DNS=' : 'X-Remote-User from the CN, X-Remote-Group from each O'}) for the backend to act on, and with edge.clientAuth.mode: any no CA vouches for them: a self-signed certificate could name itself ${r.header === 'xfcc' ? 'anyone' : '"root" in group "system:masters"'}. Use header: kes or rfc9440 (they carry the certificate; the backend decides by its key), identity: delegated, or mode: require with the client CA`);
    }
    if (r.allowAnonymous && config.edge.clientAuth.mode === 'require') problems.push(`${at}.allowAnonymous: has no effect with edge.clientAuth.mode: require; use mode: optional`);
  });
  if (config.admin && !isSocketPath(config.admin.listen)) {
    const port = (s: string) => hostPortOf(s).port;
    if (port(config.admin.listen) !== 0 && port(config.admin.listen) === port(config.listen)) problems.push(`admin.listen: ${config.admin.listen} uses the edge port; the admin listener needs its own address (it answers without client certificates)`);
  }
  if (config.audit?.stdout && !config.log.file) problems.push('audit.stdout: the operational log goes to stdout too (no log.file); give audit.file, or log.file so that stdout carries only the audit stream');
  if (config.log.file && config.log.pretty) problems.push('log.pretty: pretty output is for a terminal; a log.file gets JSON lines (remove one of them)');
  problems.push(...listenerProblems(config));
  if (config.edge.clientAuth.mode !== 'any' && !config.edge.clientAuth.ca) problems.push(`edge.clientAuth.ca: is required with mode: ${config.edge.clientAuth.mode} (the CA bundle that client certificates must chain to)`);
  if (config.edge.certificates.length === 0 && !config.edge.acme) problems.push('edge.certificates: give at least one { cert, key } or configure edge.acme');
  if (config.edge.acme) problems.push(...acmeSettingsProblems(config.edge.acme, 'edge.acme'));
  if (config.edge.allow) problems.push(...allowProblems(config.edge.allow, 'edge.allow', config.edge.clientAuth));
  return problems;
}

/**
 * With clientAuth.mode any, a client's certificate may be self-signed: its
 * names say whatever the client wrote. A rule on names matches only names a
 * configured client CA vouched for, so without edge.clientAuth.ca it can never
 * match: only `identities` (its key) can admit anyone.
 */
function allowProblems(a: AllowConfig, at: string, auth: Config['edge']['clientAuth']): string[] {
  if (auth.mode !== 'any' || auth.ca?.length) return [];
  const byName = (['cn', 'ou', 'o', 'dns', 'uri', 'email'] as const).filter((k) => a[k] !== undefined);
  return byName.map((k) => `${at}.${k}: with edge.clientAuth.mode: any and no edge.clientAuth.ca, no CA vouches for any ${k} (a self-signed certificate can claim any), so this list can never match; use allow.identities, or give edge.clientAuth.ca (then it matches the clients that CA vouches for)`);
}

function resolvePaths(c: Config, base: string): void {
  const abs = (f: string) => (isAbsolute(f) ? f : resolve(base, f));
  c.edge.certificates = c.edge.certificates.map((k) => ({ cert: abs(k.cert), key: abs(k.key) }));
  if (c.edge.clientAuth.ca) c.edge.clientAuth.ca = c.edge.clientAuth.ca.map(abs);
  if (c.edge.clientAuth.crl) c.edge.clientAuth.crl = c.edge.clientAuth.crl.map(abs);
  if (c.edge.acme) {
    const st = c.edge.acme.storage;
    if (typeof st === 'string') c.edge.acme.storage = abs(st);
    else st.etcd.tls = { ca: abs(st.etcd.tls.ca), cert: abs(st.etcd.tls.cert), key: abs(st.etcd.tls.key) };
    if (c.edge.acme.ca) c.edge.acme.ca = abs(c.edge.acme.ca);
  }
  if (c.edge.sessionTickets) c.edge.sessionTickets.keyFile = abs(c.edge.sessionTickets.keyFile);
  c.stateDir = abs(c.stateDir);
  if (c.delegation) c.delegation.ca = { cert: abs(c.delegation.ca.cert), key: abs(c.delegation.ca.key) };
  for (const u of Object.values(c.upstreams)) u.ca = u.ca.map(abs);
  for (const r of c.routes) if (r.proxyCert) r.proxyCert = { cert: abs(r.proxyCert.cert), key: abs(r.proxyCert.key) };
  if (c.log.file) c.log.file = abs(c.log.file);
  if (c.audit?.file) c.audit.file = abs(c.audit.file);
  if (c.admin && isSocketPath(c.admin.listen)) c.admin.listen = abs(c.admin.listen);
  if (c.pidFile) c.pidFile = abs(c.pidFile);
}

/** pidFile's default: beside a config file, its name with `.pid` (none for a config that is not a file). */
function defaultPidFile(c: Config, file: string): void {
  if (c.pidFile || !isAbsolute(file)) return;
  c.pidFile = join(dirname(file), `${basename(file, extname(file))}.pid`);
}

/** admin.listen: a unix socket path (the schema allows `/…`, `./…`, `../…`) rather than host:port */
export const isSocketPath = (s: string): boolean => s.startsWith('/') || s.startsWith('.');

export function parseConfigText(text: string, file: string): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(file, doc.errors.map((e) => `YAML ${e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : ''}: ${e.message.split('\n')[0]}`));
  }
  return parseConfigObject(doc.toJS(), dirname(file), file);
}

/** Reads, validates and checks every file the config names (parsable, keys match). */
export async function loadConfig(path: string, opts: { checkFiles?: boolean } = {}): Promise<LoadedConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CountersignError('ERR_CONFIG_FILE', `${file}: cannot read the configuration (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  let config: Config;
  const problems: string[] = [];
  try {
    config = parseConfigText(text, file);
  } catch (err) {
    // a config that passed the schema but not the cross-checks still gets its files checked: every problem at once
    if (!(err instanceof ConfigError && err.config && opts.checkFiles !== false)) throw err;
    config = err.config;
    problems.push(...err.problems);
  }
  let warnings: string[] = [];
  if (opts.checkFiles !== false) {
    problems.push(...await checkConfigFiles(config));
    const certs = checkCertificates(config);
    problems.push(...certs.problems);
    warnings = certs.warnings;
  }
  if (problems.length) throw new ConfigError(file, problems, { warnings });
  return { config, file, warnings, digest: createHash('sha256').update(text).digest('hex'), loadedAt: new Date() };
}
