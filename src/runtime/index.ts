/**
 * runtime/: the named parts of a running proxy that proxy.ts wires together —
 * the session-ticket keys, the reloader (and the reload gate the primary of
 * worker processes shares), the one swapped reference, status and readiness,
 * and the teardown of a failed start. Each is built and tested without a
 * listening proxy.
 */
export { oneAtATime, restartProblems, refuseReload, type LogSink } from './reload-gate.js';
export { SessionTicketKeys, type SessionTicketKeysOptions, type TicketKeyReload } from './session-ticket-keys.js';
export { Reloader, type ReloaderOptions, type ConfigSource } from './reloader.js';
export { RuntimeState, type Serving } from './runtime-state.js';
export { proxyStatus, proxyReadiness, type ProxyStatus, type StatusSnapshot } from './proxy-status.js';
export { Teardown } from './teardown.js';
export { delegationMinterFor } from './delegation-minter-for.js';
