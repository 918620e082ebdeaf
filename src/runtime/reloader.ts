/**
 * A proxy's reload, one at a time: a new config is checked for keys that need
 * a restart, everything it needs is built whole (`prepare`) before anything
 * swaps (`commit`), then the files are re-read (certificates, client CAs and
 * CRLs, the session-ticket key). Any problem refuses the whole reload and the
 * running config keeps serving. Never throws. The wiring (proxy.ts) says how
 * to build and swap; the order, the refusals and the one `reload` log line are
 * here.
 */
import { configChanges, type Config, type ConfigChanges } from '../config/index.js';
import { isCountersignError } from '../errors.js';
import type { ReloadResult } from '../edge/index.js';
import type { ReloadOutcome } from '../observe/index.js';
import { oneAtATime, refuseReload, restartProblems, type LogSink } from './reload-gate.js';
import type { TicketKeyReload } from './session-ticket-keys.js';

export interface ConfigSource { file: string; digest: string; loadedAt: Date }

export interface ReloaderOptions<Prepared> {
  logger: Pick<LogSink, 'info' | 'error'>;
  /** the config serving now */
  running(): Config;
  /** the generation serving now (1 at start) */
  generation(): number;
  /**
   * Builds what `next` needs, whole, touching nothing that serves, with what
   * changed in words; undefined when nothing did (the text and every file the
   * same). Throws to refuse.
   */
  prepare(next: Config, changes: ConfigChanges): Promise<{ build: Prepared; changes: string } | undefined>;
  /** swaps what `prepare` built in (one step); resolves to the new generation's number */
  commit(prepared: Prepared): number;
  /** what `prepare` built, not used after all (the proxy is stopping) */
  discard(prepared: Prepared): Promise<void>;
  /** true once the proxy stops: nothing is swapped in any more */
  stopping(): boolean;
  /** re-reads the files behind the certificates, the client trust and the session-ticket key */
  reloadFiles(): Promise<{ files: ReloadResult; tickets: TicketKeyReload }>;
  /** a reload applied a config from `source` (for /status) */
  applied?(source: ConfigSource): void;
  /** counts a reload by its outcome (metrics) */
  count?(outcome: 'ok' | 'partial' | 'failed'): void;
}

export class Reloader<Prepared> {
  /**
   * Applies `next` as a new generation, then re-reads the files; without
   * `next`, the running config with its files (files rotated in place make a
   * new generation too). One at a time: a second call waits for the first.
   */
  readonly reload: (next?: { config: Config; source?: ConfigSource }) => Promise<ReloadOutcome>;

  constructor(private readonly opts: ReloaderOptions<Prepared>) {
    this.reload = oneAtATime((next) => this.reloadOnce(next));
  }

  /** A reload refused before it reached the proxy (the config file has problems): counted. */
  refusedEarly(): void { this.opts.count?.('failed'); }

  private async reloadOnce(next?: { config: Config; source?: ConfigSource }): Promise<ReloadOutcome> {
    const { logger } = this.opts;
    try {
      // without a new config, a copy of the running one (a new generation must bring new route
      // objects: connections memoise their bindings by route)
      const applied = await this.apply(next?.config ?? structuredClone(this.opts.running()));
      if (!applied.ok) {
        this.opts.count?.('failed');
        return refuseReload(logger, applied.problems, next?.source?.file);
      }
      if (next?.source) this.opts.applied?.(next.source);
      const { files, tickets } = await this.opts.reloadFiles();
      const outcome = files.failed.length || tickets === 'failed' ? 'partial' : 'ok';
      this.opts.count?.(outcome);
      const generation = this.opts.generation();
      const changes = applied.changes;
      logger.info({ outcome, generation, changes, reloaded: files.reloaded, failed: files.failed }, 'reload');
      return { ok: files.failed.length === 0 && tickets !== 'failed', outcome, generation, changes, sessionTicketKey: tickets, reloaded: files.reloaded, unchanged: files.unchanged, failed: files.failed };
    } catch (err) {
      this.opts.count?.('failed');
      logger.error({ outcome: 'failed', reason: (err as Error).message }, 'reload failed');
      return { ok: false, outcome: 'failed', reason: (err as Error).message };
    }
  }

  private async apply(next: Config): Promise<{ ok: true; changes: string } | { ok: false; problems: string[] }> {
    const changes = configChanges(this.opts.running(), next);
    const problems = restartProblems(changes);
    if (problems.length) return { ok: false, problems };
    let prepared: Awaited<ReturnType<ReloaderOptions<Prepared>['prepare']>>;
    try {
      prepared = await this.opts.prepare(next, changes);
    } catch (err) {
      return { ok: false, problems: [isCountersignError(err) ? err.message : `cannot apply the config: ${(err as Error).message}`] };
    }
    if (!prepared) return { ok: true, changes: 'config unchanged' };
    if (this.opts.stopping()) {
      await this.opts.discard(prepared.build);
      return { ok: false, problems: ['stopping: the reload was not applied'] };
    }
    this.opts.commit(prepared.build);
    return { ok: true, changes: prepared.changes };
  }
}
