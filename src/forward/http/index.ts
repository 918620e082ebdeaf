/**
 * forward/http/: http mode's one engine — one exchange for HTTP/1.1, HTTP/2
 * and upgrades, thin downstream adapters, one upstream pool. The rest of
 * forward/ (and the proxy) use it through this front door.
 */
export { HttpEngine, type HttpEngineOptions } from './engine.js';
export type { RequestRouting, RequestHead } from './admission.js';
export type { UpstreamPoolStats } from './upstream-pool.js';
