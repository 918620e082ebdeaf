/**
 * The revocation sources besides the CRL files, as one object that lives as
 * long as the process: CRLs from distribution points (`fetch: true`) and
 * OCSP answers (`ocsp: soft | hard`) — and
 * the hooks the client verifier calls (more CRLs, which certificates expect
 * one, what to fetch before deciding) and the status rows they add.
 */
import type { ClientPath, ClientTrust, PathCertificate, PathRevocation } from '../client-trust.js';
import { reasonOf, type EdgeLogger } from '../logger.js';
import type { CrlSet } from './crl-set.js';
// Loaded by create() only when configured: both need @peculiar's ASN.1 libraries (~5 MiB
// once loaded), which a proxy without distribution points or OCSP never uses.
import type { DistributionPoints } from './distribution-points.js';
import type { OcspChecker } from './ocsp-checker.js';
import type { RevocationSourceStatus } from './source-status.js';
import { RevocationStateStore } from './state-store.js';

export interface RevocationSourcesOptions {
  fetch: boolean;
  ocsp: 'off' | 'soft' | 'hard';
  refreshIntervalMs: number;
  timeoutMs: number;
  graceMs: number;
  stateDir: string;
  logger: EdgeLogger;
  /** what the sources say changed: open connections are checked again */
  onChange(): void;
}

/** What the client verifier asks the sources (see RevocationOptions). */
export interface RevocationHooks {
  extra: () => readonly CrlSet[];
  expects: (cert: PathCertificate) => boolean;
  prepare: (path: ClientPath) => Promise<unknown> | undefined;
  /** what OCSP answers say about a path (undefined: nothing against it) */
  ocsp: (path: ClientPath) => PathRevocation | undefined;
}

export class RevocationSources {
  private constructor(private readonly dp: DistributionPoints | undefined, private readonly oc: OcspChecker | undefined) {}

  static async create(o: RevocationSourcesOptions): Promise<RevocationSources> {
    const oc = o.ocsp === 'off' ? undefined : new (await import('./ocsp-checker.js')).OcspChecker({ mode: o.ocsp, timeoutMs: o.timeoutMs, maxAgeMs: o.refreshIntervalMs, logger: o.logger, onChange: o.onChange });
    if (!o.fetch) return new RevocationSources(undefined, oc);
    let warned = false;
    const store = new RevocationStateStore(o.stateDir);
    const { DistributionPoints } = await import('./distribution-points.js');
    const dp = new DistributionPoints({
      refreshIntervalMs: o.refreshIntervalMs, timeoutMs: o.timeoutMs, graceMs: o.graceMs, logger: o.logger, onChange: o.onChange,
      store: {
        loadAll: () => store.loadAll(),
        save: (c) => store.save(c).catch((err) => {
          if (!warned) o.logger.warn({ stateDir: o.stateDir, ...reasonOf(err) }, 'stateDir cannot be written: fetched CRLs are kept in memory only (a restart fetches them again)');
          warned = true;
        }),
      },
    });
    await dp.restore();
    return new RevocationSources(dp, oc);
  }

  readonly hooks: RevocationHooks = {
    extra: () => (this.dp ? [this.dp.current()] : []),
    expects: (cert) => this.dp?.expects(cert) ?? false,
    prepare: (path) => {
      const waits = [this.dp?.prepare(path), this.oc?.prepare(path)].filter((p) => p !== undefined);
      return waits.length ? Promise.all(waits) : undefined;
    },
    ocsp: (path) => this.oc?.statusOf(path),
  };

  /** Follows the distribution points named by the configured CAs themselves (an intermediate in the bundle names its root's). */
  followCas(trust: ClientTrust): void {
    if (!this.dp) return;
    for (const ca of trust.cas) {
      const path = trust.pathOf(ca, () => []);
      if (path && path.length > 1) this.dp.follow(path);
    }
  }

  status(): RevocationSourceStatus[] { return [...(this.dp?.status() ?? []), ...(this.oc?.status() ?? [])]; }

  stop(): void { this.dp?.stop(); this.oc?.stop(); }
}
