/**
 * The ACME settings `check` and `start` both refuse, in one place: the
 * directory (an https URL or a known name), the domains (DNS names; no
 * wildcards, which need dns-01), the e-mail address and the EAB pair. The
 * schema runs these for `edge.acme`; the ACME manager runs the same ones on
 * the options it is built with.
 */

/** Directory names accepted instead of a URL. */
export const ACME_DIRECTORIES = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

const HOSTNAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

/** The directory URL for a name or URL, or the problem with it (without the key path). */
export function acmeDirectoryUrl(directory: string): { url: string } | { problem: string } {
  const word = ACME_DIRECTORIES[directory as keyof typeof ACME_DIRECTORIES];
  if (word) return { url: word };
  let url: URL;
  try {
    url = new URL(directory);
  } catch {
    return { problem: `"${directory}" is neither a URL nor one of ${Object.keys(ACME_DIRECTORIES).join(', ')}` };
  }
  if (url.protocol !== 'https:') return { problem: `${directory} must be an https URL (RFC 8555 §6.1); for a private CA with its own root, set acme.ca` };
  return { url: url.toString() };
}

export interface AcmeSettings {
  directory: string;
  domains: readonly string[];
  email?: string;
  eab?: { kid?: string; hmacKey?: string };
}

/** Every problem with the settings, each as `<prefix>.<key>: …` (prefix e.g. "edge.acme"). */
export function acmeSettingsProblems(opts: AcmeSettings, prefix: string): string[] {
  const p: string[] = [];
  const d = acmeDirectoryUrl(opts.directory);
  if ('problem' in d) p.push(`${prefix}.directory: ${d.problem}`);
  if (!Array.isArray(opts.domains) || opts.domains.length === 0) p.push(`${prefix}.domains: list at least one domain`);
  for (const raw of opts.domains ?? []) {
    const name = raw.trim().toLowerCase().replace(/\.$/, '');
    if (name.startsWith('*.')) p.push(`${prefix}.domains: "${raw}" is a wildcard, which only dns-01 can validate and countersign does not do dns-01; list the names, or use a file certificate`);
    else if (!HOSTNAME.test(name) || (!name.includes('.') && name !== 'localhost')) p.push(`${prefix}.domains: "${raw}" is not a DNS name`);
  }
  if (opts.email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(opts.email)) p.push(`${prefix}.email: "${opts.email}" is not an e-mail address`);
  if (opts.eab && (!opts.eab.kid || !opts.eab.hmacKey)) p.push(`${prefix}.eab: needs both kid and hmacKey (from your CA account page)`);
  return p;
}
