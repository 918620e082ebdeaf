/**
 * How an exchange fails, in one table: each failure has one of our own codes
 * (src/errors.ts, docs/errors.md), and the code alone decides the status the
 * client gets (when nothing was answered yet), the outcome the request is
 * logged and counted with, and the body of the proxy's own answer.
 */
import { CountersignError, type ErrorCode } from '../../errors.js';
import { findDiagnosis, type HandshakeDiagnosis } from '../upstream-diagnosis.js';

export type FailureCode =
  | 'ERR_UPSTREAM_UNAVAILABLE'
  | 'ERR_UPSTREAM_CLOSED'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_PROTOCOL'
  | 'ERR_UPSTREAM_FORGOTTEN'
  | 'ERR_CLIENT_CLOSED'
  | 'ERR_CLIENT_STALLED'
  | 'ERR_CLIENT_TIMEOUT';

export interface FailureClass {
  /** the status of the proxy's answer when the response had not begun; for client failures, the status logged */
  status: number;
  /** the request's outcome (log line, metric, audit record) */
  outcome: 'upstream-error' | 'client-closed' | 'client-stalled' | 'client-timeout';
  /** the JSON body's `error`, when the proxy answers */
  answer: string;
}

/** The table: code → status, outcome, answer. */
export const FAILURES: Readonly<Record<FailureCode, FailureClass>> = {
  ERR_UPSTREAM_UNAVAILABLE: { status: 502, outcome: 'upstream-error', answer: 'upstream unavailable' },
  ERR_UPSTREAM_CLOSED: { status: 502, outcome: 'upstream-error', answer: 'upstream unavailable' },
  ERR_UPSTREAM_PROTOCOL: { status: 502, outcome: 'upstream-error', answer: 'upstream unavailable' },
  ERR_UPSTREAM_FORGOTTEN: { status: 502, outcome: 'upstream-error', answer: 'upstream unavailable' },
  ERR_UPSTREAM_TIMEOUT: { status: 504, outcome: 'upstream-error', answer: 'upstream timed out' },
  // nginx's 499: the client left first
  ERR_CLIENT_CLOSED: { status: 499, outcome: 'client-closed', answer: '' },
  ERR_CLIENT_STALLED: { status: 0, outcome: 'client-stalled', answer: '' },
  // nginx's client_body_timeout: 408, and the connection closed
  ERR_CLIENT_TIMEOUT: { status: 408, outcome: 'client-timeout', answer: 'request body timed out' },
};

/** A failure of one exchange, with its code from the table (and the upstream's diagnosis when it has one). */
export class UpstreamFailure extends CountersignError {
  declare readonly code: FailureCode & ErrorCode;
  /** the server never processed the request (HTTP/2 REFUSED_STREAM, past a GOAWAY): it may go again, whatever its method */
  unprocessed = false;
  /** the upstream handshake's diagnosis (it names what to change), when the failure comes from one */
  diagnosis: HandshakeDiagnosis | undefined;

  constructor(code: FailureCode, message: string, options?: { cause?: unknown }) {
    super(code as FailureCode & ErrorCode, message, options);
    this.name = 'UpstreamFailure';
    this.diagnosis = options?.cause ? findDiagnosis(options.cause) : undefined;
  }

  /** `err` as a failure: itself when it is one, else wrapped with `code` (its own code and message kept in ours). */
  static from(err: unknown, code: FailureCode): UpstreamFailure {
    if (err instanceof UpstreamFailure) return err;
    const e = err as NodeJS.ErrnoException;
    const detail = e?.code && !String(e.message).includes(e.code) ? `${e.code}: ${e.message}` : String(e?.message ?? err);
    return new UpstreamFailure(code, detail, { cause: err });
  }

  get class(): FailureClass { return FAILURES[this.code]; }

  /** What the log line's `reason` says: the diagnosis of a failed handshake (it names what to change), else code and message. */
  get reason(): string {
    return this.diagnosis?.message ?? `${this.code}: ${this.message}`;
  }
}
