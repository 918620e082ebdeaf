/**
 * The audit log: a JSON-lines stream apart from the operational log, one record
 * per client connection and per http request (the KES guide's last best
 * practice). Each record carries `prev`, the SHA-256 (hex) of the previous
 * line's exact bytes, so a line edited, removed or inserted breaks the chain at
 * the next line; a restart continues the chain from the file's last line.
 * `countersign audit verify FILE` walks it.
 *
 * Writes never block the proxy: lines go to a sonic-boom destination (pino's),
 * written asynchronously; a write that fails (ENOSPC, EIO, …) is logged and
 * published on `countersign:audit:write-failure` (the metric counts it), the
 * unwritten bytes stay buffered and are retried with the next record, up to
 * AUDIT_BUFFER_BYTES; past that, records are dropped (and counted). A chain with
 * dropped records does not verify: a gap is visible, as it should be.
 *
 * What the chain does not show: lines removed from the end of a file (nothing
 * follows them), and a rewrite by someone who recomputes every hash. Ship the
 * stream off the host (stdout to a collector) for those.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { CountersignError } from '../errors.js';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import sonicBoom, { type SonicBoom } from 'sonic-boom';

// sonic-boom's types declare a named class, its CommonJS module exports the class itself
const SonicBoomClass = sonicBoom as unknown as typeof SonicBoom;
import { auditWriteFailureChannel, connectionChannel, requestChannel, type ConnectionEvent, type RequestEvent } from './channels.js';
import { onReopen } from './reopen.js';
import type { Logger } from './logger.js';

/** `prev` of a chain's first record */
export const AUDIT_GENESIS = '0'.repeat(64);
/** unwritten audit bytes kept in memory while the destination fails; beyond it records are dropped */
export const AUDIT_BUFFER_BYTES = 16 * 1024 * 1024;

/** One audit record, before the chain field. Absent fields are left out of the line. */
export interface AuditEvent {
  /** ISO 8601, when the connection or request ended */
  time: string;
  kind: 'connection' | 'request';
  pid?: number;
  /** connection id (per process), joins a connection's requests to it */
  conn?: number;
  /** the listener the connection came in on (`main` for `listen`) */
  listener?: string;
  remoteAddress?: string;
  identity?: string;
  subject?: string;
  /** false when the subject is only what the client claims (mode any, no configured CA vouched for it) */
  namesVouched?: false;
  sni?: string;
  /** the route's upstream name ('' when no route matched) */
  route: string;
  upstream?: string;
  server?: string;
  /** serial of the certificate minted for the client (delegated identity) */
  serial?: string;
  method?: string;
  path?: string;
  status?: number;
  outcome: string;
  reason?: string;
  /** the access rule that refused the client */
  rule?: string;
  durationMs?: number;
  bytesIn?: number;
  bytesOut?: number;
}

const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 1000) / 1000);

export function auditEventOfConnection(e: ConnectionEvent, now = new Date()): AuditEvent {
  return {
    time: now.toISOString(), kind: 'connection', conn: e.conn, listener: e.listener, remoteAddress: e.remoteAddress, identity: e.identity, subject: e.subject, namesVouched: e.namesVouched, sni: e.sni,
    route: e.route, upstream: e.upstream, server: e.server, serial: e.serial, outcome: e.outcome, reason: e.reason, rule: e.rule,
    durationMs: round(e.durationMs), bytesIn: e.bytesIn, bytesOut: e.bytesOut,
  };
}

export function auditEventOfRequest(e: RequestEvent, now = new Date()): AuditEvent {
  return {
    time: now.toISOString(), kind: 'request', conn: e.conn, remoteAddress: e.remoteAddress, identity: e.identity, subject: e.subject,
    route: e.route, upstream: e.upstream, serial: e.serial, method: e.method, path: e.path, status: e.status, outcome: e.outcome,
    reason: e.reason, rule: e.rule, durationMs: round(e.durationMs), bytesIn: e.bytesIn, bytesOut: e.bytesOut,
  };
}

/** Calls `sink` with an audit event for every connection and request event of this process; returns the unsubscribe function. */
export function subscribeAudit(sink: (e: AuditEvent) => void): () => void {
  const onConnection = (m: unknown) => sink(auditEventOfConnection(m as ConnectionEvent));
  const onRequest = (m: unknown) => sink(auditEventOfRequest(m as RequestEvent));
  subscribe(connectionChannel.name as string, onConnection);
  subscribe(requestChannel.name as string, onRequest);
  return () => {
    unsubscribe(connectionChannel.name as string, onConnection);
    unsubscribe(requestChannel.name as string, onRequest);
  };
}

/**
 * The last line of a file (its exact bytes, without the newline), and whether
 * the file ends with a newline; undefined for a missing or empty file. Reads
 * backwards from the end, so a large file costs little.
 */
export function lastLine(path: string): { line: Buffer; complete: boolean } | undefined {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    const complete = last[0] === 0x0a;
    const end = complete ? size - 1 : size;
    const chunks: Buffer[] = [];
    let pos = end;
    while (pos > 0) {
      const n = Math.min(65_536, pos);
      const buf = Buffer.alloc(n);
      readSync(fd, buf, 0, n, pos - n);
      pos -= n;
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) { chunks.unshift(buf.subarray(nl + 1)); break; }
      chunks.unshift(buf);
    }
    return { line: Buffer.concat(chunks), complete };
  } finally {
    closeSync(fd);
  }
}

export interface AuditLogOptions {
  /** append to this file (created 0600 if missing); or stdout when absent */
  file?: string;
  /** the operational log, where write failures are reported */
  logger: Logger;
  /** unwritten bytes kept while writes fail; default AUDIT_BUFFER_BYTES */
  maxBufferBytes?: number;
}

type Destination = SonicBoom;

/** The writer of one audit stream: appends chained records. */
export class AuditLog {
  private prev: string;
  private readonly dest: Destination;
  private failures = 0;
  private lastReported = 0;
  private readonly unregisterReopen: () => void;

  private constructor(private readonly opts: AuditLogOptions, prev: string, dest: Destination) {
    this.prev = prev;
    this.dest = dest;
    dest.on('error', (err: NodeJS.ErrnoException) => this.failed(err.code ?? err.message));
    dest.on('drop', () => this.failed('buffer full: record dropped'));
    this.unregisterReopen = opts.file ? onReopen('audit', () => { this.dest.reopen(); }) : () => {};
  }

  /** Opens the stream; with a file, the chain continues from its last line. */
  static open(opts: AuditLogOptions): AuditLog {
    let prev = AUDIT_GENESIS;
    let separator = '';
    if (opts.file) {
      // refused now rather than failing every write later: the proxy does not run without its audit log
      let last: ReturnType<typeof lastLine>;
      try {
        mkdirSync(dirname(opts.file), { recursive: true });
        closeSync(openSync(opts.file, 'a', 0o600));
        last = lastLine(opts.file);
      } catch (err) {
        throw new CountersignError('ERR_AUDIT_OPEN', `audit.file: cannot open ${opts.file}: ${(err as Error).message}`, { cause: err });
      }
      if (last) {
        prev = sha256Hex(last.line);
        // a line cut short (a crash mid-write) stays as it is, visibly broken; the chain goes on after it
        if (!last.complete) separator = '\n';
      }
    }
    // SonicBoom itself rather than pino.destination(): pino adds an exit hook that
    // flushes synchronously, and on a full disk that flush retries forever
    const dest = new SonicBoomClass({
      ...(opts.file ? { dest: opts.file, mode: 0o600 } : { fd: 1 }), sync: false, mkdir: true, append: true, minLength: 0,
      maxLength: opts.maxBufferBytes ?? AUDIT_BUFFER_BYTES,
    });
    const log = new AuditLog(opts, prev, dest);
    if (separator) dest.write(separator);
    return log;
  }

  /** the hash the next record will carry as `prev` */
  get head(): string { return this.prev; }
  /** write failures and drops so far */
  get failureCount(): number { return this.failures; }

  /** Appends one record; never throws, never waits. */
  append(e: AuditEvent): void {
    const line = JSON.stringify({ ...e, prev: this.prev });
    this.prev = sha256Hex(line);
    try {
      this.dest.write(line + '\n');
    } catch (err) {
      this.failed((err as Error).message);
    }
  }

  private failed(reason: string): void {
    this.failures++;
    if (auditWriteFailureChannel.hasSubscribers) auditWriteFailureChannel.publish({ reason });
    // one line per failure would flood the log on a full disk: the first, then at most every 10 s
    const now = Date.now();
    if (this.failures === 1 || now - this.lastReported >= 10_000) {
      this.lastReported = now;
      this.opts.logger.error({ path: this.opts.file ?? 'stdout', outcome: 'failed', reason, failures: this.failures }, 'audit record not written');
    }
  }

  /** Writes what is buffered (as far as the destination takes it, for up to 2 s) and closes; never throws. */
  async close(): Promise<void> {
    this.unregisterReopen();
    const dest = this.dest;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        // still failing (a full disk): what is left is dropped, and was counted
        try { dest.destroy(); } catch { /* closed meanwhile */ }
        resolve();
      }, 2_000);
      t.unref();
      dest.once('close', () => { clearTimeout(t); resolve(); });
      try { dest.end(); } catch { clearTimeout(t); resolve(); }
    });
  }
}

export interface AuditVerifyResult {
  ok: boolean;
  /** records checked (non-empty lines up to the first broken one) */
  records: number;
  /** `prev` of the first record: AUDIT_GENESIS for a chain's start, else the hash of a previous file's last line */
  startsFrom?: string;
  /** the SHA-256 of the last line: what a following file's first record carries */
  head?: string;
  /** 1-based line number and what is wrong with it */
  broken?: { line: number; reason: string };
}

/**
 * Checks a chain line by line. `lines` are the exact bytes between newlines;
 * `expectPrev`, when given, is what the first record must carry (the head of the
 * file before it). Never throws on any input.
 */
export function verifyAuditLines(lines: Iterable<Buffer>, expectPrev?: string): AuditVerifyResult {
  const v = new ChainVerifier(expectPrev);
  for (const l of lines) if (!v.push(l)) break;
  return v.result();
}

/** Verifies a file, streaming; the last line may lack its newline. */
export async function verifyAuditFile(path: string, expectPrev?: string): Promise<AuditVerifyResult> {
  const v = new ChainVerifier(expectPrev);
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    let buf = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let nl: number;
    let stop = false;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      if (!v.push(buf.subarray(0, nl))) { stop = true; break; }
      buf = buf.subarray(nl + 1);
    }
    if (stop) return v.result();
    rest = Buffer.from(buf);
  }
  if (rest.length) v.push(rest);
  return v.result();
}

class ChainVerifier {
  private n = 0;
  private records = 0;
  private prevHash?: string;
  private startsFrom?: string;
  private broken?: { line: number; reason: string };
  private pendingEmpty = 0;

  constructor(private readonly expectPrev?: string) {}

  /** false once the chain is broken */
  push(line: Buffer): boolean {
    this.n++;
    if (line.length === 0) { this.pendingEmpty = this.n; return true; } // a trailing newline; an empty line inside is reported below
    if (this.pendingEmpty) return this.fail(this.pendingEmpty, 'empty line inside the chain');
    let rec: unknown;
    try { rec = JSON.parse(line.toString('utf8')); } catch { return this.fail(this.n, 'not a JSON record (cut short, or edited)'); }
    const prev = typeof rec === 'object' && rec !== null && !Array.isArray(rec) ? (rec as { prev?: unknown }).prev : undefined;
    if (typeof prev !== 'string' || !/^[0-9a-f]{64}$/.test(prev)) return this.fail(this.n, 'no "prev" hash (64 hex characters)');
    if (this.prevHash === undefined) {
      if (this.expectPrev !== undefined && prev !== this.expectPrev) return this.fail(this.n, 'the first record does not continue the previous file (its "prev" is not the SHA-256 of that file\'s last line)');
      this.startsFrom = prev;
    } else if (prev !== this.prevHash) {
      return this.fail(this.n, `"prev" is not the SHA-256 of line ${this.n - 1}: line ${this.n - 1} was changed, or lines were removed or inserted before line ${this.n}`);
    }
    this.prevHash = sha256Hex(line);
    this.records++;
    return true;
  }

  private fail(line: number, reason: string): false {
    this.broken = { line, reason };
    return false;
  }

  result(): AuditVerifyResult {
    return { ok: !this.broken, records: this.records, startsFrom: this.startsFrom, head: this.prevHash, broken: this.broken };
  }
}
