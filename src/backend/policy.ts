/**
 * A KES-style policy engine. A policy is a set of allow and deny glob patterns
 * over request paths (`/v1/key/create/my-app-*`); a request is allowed when no
 * deny pattern matches and at least one allow pattern does (deny wins, an empty
 * policy allows nothing). Each identity belongs to at most one policy, so what
 * an identity may do is never the union of policies someone forgot about.
 *
 * Patterns use Go's path.Match syntax, as KES v0.x configuration files do
 * (`*` stays within one path segment). A pattern may be prefixed with an HTTP
 * method (`"POST /v1/key/create/*"`) to restrict it to that method; without a
 * prefix it matches any method, as in KES.
 */
import { CountersignError } from '../errors.js';
import { compilePathPattern, type PathMatcher } from './path-match.js';

export interface PolicyDefinition {
  /** patterns a request path must match one of; default [] (nothing allowed) */
  allow?: string[];
  /** patterns that refuse a request even when an allow pattern matches; default [] */
  deny?: string[];
  /** identities (hex SHA-256 of the SPKI) assigned to this policy, as in a KES config file; default [] */
  identities?: string[];
}

export interface PolicyEngineOptions {
  /** named policies */
  policies: Record<string, PolicyDefinition>;
  /**
   * Identities that may never act, whatever is assigned to them — e.g. a KES
   * `root` identity taken out of service. Default [].
   */
  disabled?: string[];
}

/** Why a request was refused. Clients always see CLIENT_DENIAL_MESSAGE; this goes to the log. */
export type DenialReason = 'prohibited by policy' | 'unknown identity' | 'identity disabled';

export type AuthorizationResult =
  | { allowed: true; policy: string }
  | { allowed: false; reason: DenialReason; policy?: string };

/** The only denial text a client sees, so it cannot probe which identities exist. */
export const CLIENT_DENIAL_MESSAGE = 'prohibited by policy';

const IDENTITY = /^[0-9a-f]{64}$/;

interface Rule { method?: string; match: PathMatcher; source: string }
interface CompiledPolicy { name: string; allow: Rule[]; deny: Rule[] }

function compileRule(policy: string, list: string, pattern: unknown): Rule {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new CountersignError('ERR_POLICY_INVALID', `policy "${policy}".${list}: every pattern must be a non-empty string`);
  }
  const m = /^([A-Z]+) +(\S.*)$/.exec(pattern);
  const method = m ? m[1] : undefined;
  const path = m ? m[2] : pattern;
  if (!path.startsWith('/')) {
    throw new CountersignError('ERR_POLICY_INVALID', `policy "${policy}".${list}: pattern "${pattern}" must start with "/" (optionally after a method, e.g. "GET /v1/status")`);
  }
  try {
    return { method, match: compilePathPattern(path), source: pattern };
  } catch (err) {
    throw new CountersignError('ERR_POLICY_INVALID', `policy "${policy}".${list}: ${(err as Error).message}`, { cause: err });
  }
}

export function normalizeIdentity(identity: string, where: string): string {
  const id = typeof identity === 'string' ? identity.trim().toLowerCase() : '';
  if (!IDENTITY.test(id)) {
    throw new CountersignError('ERR_POLICY_INVALID', `${where}: "${String(identity)}" is not an identity (64 hex digits: the SHA-256 of the certificate's public key, as \`countersign identity of\` prints)`);
  }
  return id;
}

const matches = (rules: Rule[], method: string, path: string) =>
  rules.some((r) => (r.method === undefined || r.method === method) && r.match(path));

export class PolicyEngine {
  private readonly policies = new Map<string, CompiledPolicy>();
  private readonly assignments = new Map<string, string>();
  private readonly disabled: ReadonlySet<string>;

  constructor(opts: PolicyEngineOptions) {
    if (!opts || typeof opts.policies !== 'object' || opts.policies === null) {
      throw new CountersignError('ERR_POLICY_INVALID', 'policies: expected an object of named policies, e.g. { "my-app": { allow: ["/v1/key/generate/my-app-*"] } }');
    }
    this.disabled = new Set((opts.disabled ?? []).map((id, i) => normalizeIdentity(id, `disabled[${i}]`)));
    for (const [name, def] of Object.entries(opts.policies)) {
      if (!def || typeof def !== 'object') throw new CountersignError('ERR_POLICY_INVALID', `policy "${name}": expected { allow, deny, identities }`);
      const unknown = Object.keys(def).filter((k) => k !== 'allow' && k !== 'deny' && k !== 'identities');
      if (unknown.length) throw new CountersignError('ERR_POLICY_INVALID', `policy "${name}": unknown key "${unknown[0]}" (allowed: allow, deny, identities)`);
      this.policies.set(name, {
        name,
        allow: (def.allow ?? []).map((p) => compileRule(name, 'allow', p)),
        deny: (def.deny ?? []).map((p) => compileRule(name, 'deny', p)),
      });
    }
    for (const [name, def] of Object.entries(opts.policies)) for (const id of def.identities ?? []) this.assign(id, name);
  }

  /** Assigns an identity to a policy. An identity has at most one policy; a second assignment is an error. */
  assign(identity: string, policy: string): void {
    const id = normalizeIdentity(identity, `policy "${policy}" identity`);
    if (!this.policies.has(policy)) {
      throw new CountersignError('ERR_POLICY_INVALID', `cannot assign ${id} to policy "${policy}": no such policy (known: ${[...this.policies.keys()].join(', ') || 'none'})`);
    }
    if (this.disabled.has(id)) {
      throw new CountersignError('ERR_POLICY_INVALID', `cannot assign ${id} to policy "${policy}": the identity is disabled`);
    }
    const current = this.assignments.get(id);
    if (current !== undefined) {
      throw new CountersignError('ERR_POLICY_INVALID', `identity ${id} is already assigned to policy "${current}"; an identity has at most one policy — remove it from one of them`);
    }
    this.assignments.set(id, policy);
  }

  /** The policy an identity is assigned to. */
  policyOf(identity: string): string | undefined {
    return this.assignments.get(identity.toLowerCase());
  }

  /**
   * Decides one request. `path` is the URL path without the query string,
   * percent-decoded (what Go's `r.URL.Path` holds and KES matches on).
   */
  authorize(identity: string, method: string, path: string): AuthorizationResult {
    const id = identity.toLowerCase();
    if (this.disabled.has(id)) return { allowed: false, reason: 'identity disabled' };
    const name = this.assignments.get(id);
    if (name === undefined) return { allowed: false, reason: 'unknown identity' };
    const policy = this.policies.get(name) as CompiledPolicy;
    const m = method.toUpperCase();
    if (matches(policy.deny, m, path) || !matches(policy.allow, m, path)) {
      return { allowed: false, reason: 'prohibited by policy', policy: name };
    }
    return { allowed: true, policy: name };
  }
}

export function createPolicyEngine(opts: PolicyEngineOptions): PolicyEngine {
  return new PolicyEngine(opts);
}
