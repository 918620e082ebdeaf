/**
 * What happens when `limits.maxConnections` is reached: the new connection is
 * closed on arrival (before any TLS, like nginx when worker_connections are
 * used up), each refusal is published on `countersign:edge:connection-refused`
 * (the metric `countersign_connections_refused_total{reason="limit"}`), and
 * the log gets one warn line at once and then at most one a second with the
 * count since the last line — a flood of refused connections must not become
 * a flood of log lines.
 */
import { readFileSync } from 'node:fs';
import { connectionRefusedChannel, type ConnectionRefusedEvent, type Logger } from '../observe/index.js';

export interface ConnectionLimitLogOptions {
  logger: Logger;
  /** the limit in force, named in the log line */
  maxConnections: number;
  /** at most one line per this many ms after the first; default 1000 */
  intervalMs?: number;
}

export class ConnectionLimitLog {
  /** refusals since the process started (for /status) */
  total = 0;
  private sinceLine = 0;
  private firstAddress: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ConnectionLimitLogOptions) {}

  /** One connection was refused because the limit is reached. */
  readonly refused = (remoteAddress: string | undefined): void => {
    this.total++;
    if (connectionRefusedChannel.hasSubscribers) connectionRefusedChannel.publish({ reason: 'limit', remoteAddress } satisfies ConnectionRefusedEvent);
    if (this.timer) {
      this.sinceLine++;
      this.firstAddress ??= remoteAddress;
      return;
    }
    this.line(1, remoteAddress);
    this.arm();
  };

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.sinceLine === 0) return;
      this.line(this.sinceLine, this.firstAddress);
      this.sinceLine = 0;
      this.firstAddress = undefined;
      this.arm();
    }, this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  private line(refused: number, remoteAddress: string | undefined): void {
    this.opts.logger.warn({
      outcome: 'refused', reason: 'limit', maxConnections: this.opts.maxConnections, refused, remoteAddress,
    }, `connection refused: limits.maxConnections (${this.opts.maxConnections}) reached; raise it if the memory allows (docs/performance.md), or add workers`);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * This process's open-file limit (the soft RLIMIT_NOFILE, which Node raises to
 * the hard limit at start), from /proc/self/limits; undefined where there is
 * no such file (not Linux) or it says "unlimited".
 */
export function openFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  let text: string;
  try { text = read(); } catch { return undefined; }
  const m = /^Max open files\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
