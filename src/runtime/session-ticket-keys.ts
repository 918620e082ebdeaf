/**
 * The edge's TLS session-ticket keys. A base — the fleet's shared key file
 * (`edge.sessionTickets.keyFile`), else the keys a primary hands its workers,
 * else random — and, by default, the keys in use derived from that base and
 * the client trust's digest: a CA or CRL change gives new keys, so a ticket
 * issued under the old trust is never resumed (a fresh handshake is verified
 * against the new), and every worker and every instance sharing the key file
 * derives the same keys without talking.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { FileWatch } from '../edge/index.js';
import type { LogSink } from './reload-gate.js';
import { readTicketKeyFile } from '../pki/index.js';

export type TicketKeyReload = 'unchanged' | 'reloaded' | 'failed';

export interface SessionTicketKeysOptions {
  /** 48 bytes handed over (a primary's keys for its workers); random when absent */
  given?: Buffer;
  /** edge.sessionTickets.keyFile: the fleet's key, which wins over `given`; read now (throws if unusable) */
  file?: string;
  /** derive the keys in use from the base and the client trust (default true); false: the base as it is */
  rotateOnTrustChange?: boolean;
  logger: LogSink;
}

export class SessionTicketKeys {
  /** one fleet, one context: instances sharing the key file resume each other's sessions */
  readonly sessionIdContext: string | undefined;
  private base: Buffer;
  private readonly opts: SessionTicketKeysOptions;

  constructor(opts: SessionTicketKeysOptions) {
    this.opts = opts;
    this.base = opts.file ? this.readFile(opts.file) : opts.given ?? randomBytes(48);
    this.sessionIdContext = opts.file ? 'countersign-fleet' : undefined;
  }

  /** The 48 bytes in use under the client trust whose digest is `trustDigest`. */
  keysFor(trustDigest: string): Buffer {
    if (this.opts.rotateOnTrustChange === false) return this.base;
    return Buffer.from(hkdfSync('sha256', this.base, Buffer.from(trustDigest), 'countersign session tickets', 48));
  }

  /** Re-reads the key file; a file that cannot be used keeps the previous key (logged). */
  reloadFile(): TicketKeyReload {
    const file = this.opts.file;
    if (!file) return 'unchanged';
    try {
      const keys = this.readFile(file);
      if (this.base.equals(keys)) return 'unchanged';
      this.base = keys;
      this.opts.logger.info({ path: file, outcome: 'ok' }, 'session-ticket key reloaded');
      return 'reloaded';
    } catch (err) {
      this.opts.logger.error({ path: file, outcome: 'failed', reason: (err as Error).message }, 'session-ticket key not reloaded; the previous key stays');
      return 'failed';
    }
  }

  /** Watches the key file (when there is one); `onReloaded` after a change was taken. Returns the stop. */
  watch(pollIntervalMs: number, onReloaded: () => void): () => void {
    if (!this.opts.file) return () => {};
    const watch = new FileWatch({ paths: [this.opts.file], onChange: () => { if (this.reloadFile() === 'reloaded') onReloaded(); }, pollIntervalMs });
    return () => watch.close();
  }

  private readFile(file: string): Buffer {
    const read = readTicketKeyFile(file);
    if (read.readableByOthers) this.opts.logger.warn({ path: file }, 'session-ticket key file is readable by group or others; make it 0600');
    return read.keys;
  }
}
