export { configSchema, DEFAULTS, type Config, type RouteConfig, type UpstreamConfig, type EdgeConfig, type AcmeConfig, type HealthConfig, type AdminConfig } from './schema.js';
export { loadConfig, parseConfigText, parseConfigObject, ConfigError, isSocketPath, type LoadedConfig } from './load-config.js';
export { checkConfigFiles } from './check-files.js';
export { parseDuration, formatDuration } from './duration.js';
