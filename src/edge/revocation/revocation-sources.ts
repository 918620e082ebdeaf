/**
 * The revocation sources besides the CRL files, as one object that lives as
 * long as the process: CRLs from distribution points (`fetch: true`) — and
 * the hooks the client verifier calls (more CRLs, which certificates expect
 * one, what to fetch before deciding) and the status rows they add.
 */
import type { ClientPath, ClientTrust, PathCertificate } from '../client-trust.js';
import { reasonOf, type EdgeLogger } from '../logger.js';
import type { CrlSet } from './crl-set.js';
import { DistributionPoints } from './distribution-points.js';
import type { RevocationSourceStatus } from './source-status.js';
import { RevocationStateStore } from './state-store.js';

export interface RevocationSourcesOptions {
  fetch: boolean;
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
}

export class RevocationSources {
  private constructor(private readonly dp: DistributionPoints | undefined) {}

  static async create(o: RevocationSourcesOptions): Promise<RevocationSources> {
    if (!o.fetch) return new RevocationSources(undefined);
    let warned = false;
    const store = new RevocationStateStore(o.stateDir);
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
    return new RevocationSources(dp);
  }

  readonly hooks: RevocationHooks = {
    extra: () => (this.dp ? [this.dp.current()] : []),
    expects: (cert) => this.dp?.expects(cert) ?? false,
    prepare: (path) => this.dp?.prepare(path),
  };

  /** Follows the distribution points named by the configured CAs themselves (an intermediate in the bundle names its root's). */
  followCas(trust: ClientTrust): void {
    if (!this.dp) return;
    for (const ca of trust.cas) {
      const path = trust.pathOf(ca, () => []);
      if (path && path.length > 1) this.dp.follow(path);
    }
  }

  status(): RevocationSourceStatus[] { return this.dp?.status() ?? []; }

  stop(): void { this.dp?.stop(); }
}
