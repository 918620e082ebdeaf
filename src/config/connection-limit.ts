/**
 * The connection limit in force (`limits.maxConnections`, per worker process).
 * Unset, it is DEFAULTS.maxConnections (10,000), or fewer when the process's
 * open-file limit cannot hold it: a connection-mode client needs two
 * descriptors (its own and its upstream connection), and running out of them
 * fails upstream connects (EMFILE), which would mark healthy servers down.
 * HAProxy derives its default maxconn from the same limit. A value set in the
 * config is kept as given, with a warning when the open-file limit is lower.
 */
import { DEFAULTS } from './schema.js';

/** descriptors kept for everything but client connections: listeners, admin, logs, health checks, upstream pools */
export const RESERVED_FILES = 100;
/** descriptors one client connection may need (connection mode: client + upstream) */
export const FILES_PER_CONNECTION = 2;

export interface ConnectionLimit {
  max: number;
  /** where the number came from, for the log line at start and /status */
  source: 'config' | 'default' | 'open-file limit';
  /** a configured value the open-file limit cannot hold: what to change */
  warning?: string;
}

/** `configured`: limits.maxConnections as validated (undefined when unset); `openFiles`: the process's RLIMIT_NOFILE, when known. */
export function connectionLimit(configured: number | undefined, openFiles: number | undefined): ConnectionLimit {
  const fits = openFiles === undefined ? Infinity : Math.max(1, Math.floor((openFiles - RESERVED_FILES) / FILES_PER_CONNECTION));
  if (configured !== undefined) {
    return configured <= fits
      ? { max: configured, source: 'config' }
      : {
        max: configured, source: 'config',
        warning: `limits.maxConnections is ${configured}, but the open-file limit (${openFiles}) holds about ${fits} connection-mode connections (${FILES_PER_CONNECTION} descriptors each, ${RESERVED_FILES} kept aside); past it, connects fail with EMFILE. Raise the limit (systemd: LimitNOFILE=; a shell: ulimit -Hn) or lower limits.maxConnections`,
      };
  }
  return DEFAULTS.maxConnections <= fits ? { max: DEFAULTS.maxConnections, source: 'default' } : { max: fits, source: 'open-file limit' };
}
