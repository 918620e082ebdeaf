export { configSchema, DEFAULTS, LOG_LEVELS, type Config, type RouteConfig, type UpstreamConfig, type EdgeConfig, type AcmeConfig, type HealthConfig, type AdminConfig, type AllowConfig,
  type ListenerConfig, type ListenerStarttls, type UpstreamStarttlsName, MAIN_LISTENER, LISTENER_STARTTLS, UPSTREAM_STARTTLS } from './schema.js';
export { listenersOf, routesServing, isServerFirst, listenerProblems, type ListenerSpec } from './listeners.js';
export { loadConfig, parseConfigText, parseConfigObject, ConfigError, isSocketPath, type LoadedConfig } from './load-config.js';
export { checkConfigFiles } from './check-files.js';
export { parseDuration, formatDuration } from './duration.js';
export { ACME_DIRECTORIES, acmeDirectoryUrl, acmeSettingsProblems, type AcmeSettings } from './acme-checks.js';
export { checkCertificates, type CheckResult } from './check-certificates.js';
export { cidrMatcher, parseCidr, type Cidr } from './cidr.js';
export { configChanges, changedKeys, describeRoute, summarizeChanges, RELOADABLE_KEYS, CERTIFICATE_STORE_KEYS, type ConfigChanges } from './reload-diff.js';
export { parseHostPort, hostPortOf, formatHostPort, type HostPort } from './host-port.js';
export { delegationLimits, DEFAULT_DELEGATION_LIMITS, type DelegationLimits } from './delegation-limits.js';
export { connectionLimit, RESERVED_FILES, FILES_PER_CONNECTION, type ConnectionLimit } from './connection-limit.js';
export { acmeTiming, DEFAULT_ACME_TIMING, type AcmeTiming } from './acme-timing.js';
