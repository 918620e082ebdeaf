/**
 * YAML file → validated, typed Config with absolute paths. Every problem is
 * reported at once, each prefixed with the path of the bad key, so `check` can
 * print them all.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { CountersignError } from '../errors.js';
import { configSchema, type Config } from './schema.js';
import { checkConfigFiles } from './check-files.js';

export class ConfigError extends CountersignError {
  constructor(readonly file: string, readonly problems: string[]) {
    super('ERR_CONFIG_INVALID', `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`);
  }
}

export interface LoadedConfig {
  config: Config;
  /** absolute path of the file it came from (or "<embedded>") */
  file: string;
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
      if (i.code === 'unrecognized_keys') return `${pathText(i.path)}: unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
      if (i.code === 'invalid_type' && i.message.includes('received undefined')) return `${pathText(i.path)}: is required`;
      return `${pathText(i.path)}: ${i.message}`;
    }));
  }
  const config = r.data;
  const problems = crossCheck(config);
  if (problems.length) throw new ConfigError(file, problems);
  resolvePaths(config, baseDir);
  return config;
}

function crossCheck(c: Config): string[] {
  const p: string[] = [];
  c.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (!c.upstreams[r.upstream]) p.push(`${at}.upstream: no upstream named "${r.upstream}" (known: ${Object.keys(c.upstreams).join(', ') || 'none'})`);
    if (r.mode === 'connection' && r.identity !== 'delegated') p.push(`${at}.identity: "${r.identity}" needs mode: http (headers are HTTP); connection mode forwards identity as a delegated certificate`);
    if (r.mode === 'connection' && (r.match?.host || r.match?.pathPrefix)) p.push(`${at}.match: host and pathPrefix need mode: http; connection mode routes by sni only`);
    if (r.identity === 'header' && !r.proxyCert) p.push(`${at}.proxyCert: is required with identity: header (the proxy's own client certificate, trusted by the backend as a proxy)`);
    if ((r.identity === 'delegated' || r.identity === 'both') && !c.delegation) p.push(`${at}.identity: "${r.identity}" needs a delegation section with the delegation CA`);
    if (r.allowAnonymous && c.edge.clientAuth.mode === 'require') p.push(`${at}.allowAnonymous: has no effect with edge.clientAuth.mode: require; use mode: optional`);
  });
  if (c.workers !== 1 && c.edge.acme) p.push('workers: ACME (edge.acme) needs workers: 1; its orders and challenge answers live in one process');
  const defaults = c.routes.filter((r) => !r.match || Object.values(r.match).every((v) => v === undefined));
  if (defaults.length > 1) p.push('routes: more than one route has no match; only one default route is allowed');
  if (c.edge.clientAuth.mode !== 'any' && !c.edge.clientAuth.ca) p.push(`edge.clientAuth.ca: is required with mode: ${c.edge.clientAuth.mode} (the CA bundle that client certificates must chain to)`);
  if (c.edge.certificates.length === 0 && !c.edge.acme) p.push('edge.certificates: give at least one { cert, key } or configure edge.acme');
  return p;
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
  if (c.delegation) c.delegation.ca = { cert: abs(c.delegation.ca.cert), key: abs(c.delegation.ca.key) };
  for (const u of Object.values(c.upstreams)) u.ca = u.ca.map(abs);
  for (const r of c.routes) if (r.proxyCert) r.proxyCert = { cert: abs(r.proxyCert.cert), key: abs(r.proxyCert.key) };
}

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
  const config = parseConfigText(text, file);
  if (opts.checkFiles !== false) {
    const problems = await checkConfigFiles(config);
    if (problems.length) throw new ConfigError(file, problems);
  }
  return { config, file };
}
