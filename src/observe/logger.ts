/**
 * pino, one JSON line per event with stable field names (identity, route,
 * upstream, outcome, reason, durationMs, bytesIn, bytesOut). Anything that looks
 * like key material is redacted by path, as a second line of defence: code never
 * passes keys or whole certificates to the logger in the first place.
 */
import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';
import { onReopen } from './reopen.js';

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** human-readable output for a terminal (pino-pretty) */
  pretty?: boolean;
  /** write to this fd/destination instead of stdout (tests) */
  destination?: NodeJS.WritableStream;
  /**
   * append JSON lines to this file instead of stdout (mode 0640, created with its
   * directory); reopened by reopenFiles() on SIGUSR1. `pretty` does not apply.
   */
  file?: string;
}

export const REDACT_PATHS = ['key', 'keyPem', '*.key', '*.keyPem', 'privateKey', '*.privateKey', 'certPem', '*.certPem', 'hmacKey', '*.hmacKey'];

export function createLogger(opts: LoggerOptions = {}): Logger {
  const base = { level: opts.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { name: 'countersign' } };
  if (opts.file) {
    const dest = pino.destination({ dest: opts.file, append: true, mkdir: true, sync: false, mode: 0o640 });
    const logger = pino(base, dest);
    // one log file per process: a later createLogger for the same process replaces the hook
    onReopen('log', () => dest.reopen());
    return logger;
  }
  if (opts.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } } });
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}

/** A logger that drops everything (library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });
