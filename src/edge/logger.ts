/**
 * The logging surface the edge's long-lived parts need. pino's `logger.info(obj, msg)`
 * fits it as is, so src/observe passes its logger (or a child) straight in.
 */
export interface EdgeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Drops everything; the default when no logger is given. */
export const silentLogger: EdgeLogger = { info() {}, warn() {}, error() {} };

/** A one-line reason for a log field: the message and, for our errors, the stable code. */
export function reasonOf(err: unknown): { reason: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { reason: err.message, code } : { reason: err.message };
  }
  return { reason: String(err) };
}
