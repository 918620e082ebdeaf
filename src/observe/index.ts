export { createLogger, silentLogger, REDACT_PATHS, type Logger, type LoggerOptions } from './logger.js';
export { onReopen, reopenFiles, type ReopenFn, type ReopenResult } from './reopen.js';
