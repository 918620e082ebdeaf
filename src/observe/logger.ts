/**
 * pino, one JSON line per event with stable field names (identity, route,
 * upstream, outcome, reason, durationMs, bytesIn, bytesOut). Anything that looks
 * like key material is redacted by path, as a second line of defence: code never
 * passes keys or whole certificates to the logger in the first place.
 */
import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** human-readable output for a terminal (pino-pretty) */
  pretty?: boolean;
  /** write to this fd/destination instead of stdout (tests) */
  destination?: NodeJS.WritableStream;
}

export const REDACT_PATHS = ['key', 'keyPem', '*.key', '*.keyPem', 'privateKey', '*.privateKey', 'certPem', '*.certPem', 'hmacKey', '*.hmacKey'];

export function createLogger(opts: LoggerOptions = {}): Logger {
  const base = { level: opts.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { name: 'countersign' } };
  if (opts.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } } });
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}

/** A logger that drops everything (library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });
