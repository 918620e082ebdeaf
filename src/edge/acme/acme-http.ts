/**
 * Per-manager HTTP settings for acme-client. acme-client sends every request
 * through one module-global axios instance, so options set on
 * `acme.axios.defaults` would leak into every ACME client in the process (two
 * directories with different CAs, or tests running side by side). Instead, each
 * manager runs its ACME calls inside an AsyncLocalStorage scope, and one request
 * interceptor applies that scope's trust (custom CA agent), abort signal and
 * timeout to exactly the requests made on its behalf, whatever their origin.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import acme from 'acme-client';

/**
 * An https.Agent that remembers the last connection error. acme-client 5.x turns
 * every request that got no response (refused, DNS, TLS, timeout) into
 * "TypeError: Cannot read properties of undefined (reading 'config')" in its
 * response interceptor, so the real cause would otherwise be lost; the manager
 * reports this error instead when an attempt fails.
 */
export class AcmeAgent extends HttpsAgent {
  lastConnectionError: Error | undefined;
  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    socket?.once('error', (err) => { this.lastConnectionError = err; });
    return socket;
  }
}

export interface AcmeRequestScope {
  /** agent for every request: trusts the configured CA (or Node's roots) and records connection errors */
  httpsAgent: AcmeAgent;
  /** aborted when the manager stops, so no request outlives it */
  signal: AbortSignal;
  /** per request, in ms (axios has no timeout by default) */
  timeoutMs: number;
}

const scopes = new AsyncLocalStorage<AcmeRequestScope>();
let installed = false;

// acme-client's axios layer retries network errors and 5xx itself, waiting
// 5 s × attempt between tries (75 s before one call fails against a server that
// is down). The manager has its own jittered backoff between whole attempts, so
// inside a scope that inner retry is turned off by starting the attempt counter
// past its limit (acme-client's `retryAttempt` request field).
const NO_INNER_RETRY = 1_000_000;

function install(): void {
  if (installed) return;
  installed = true;
  acme.axios.interceptors.request.use((config) => {
    const scope = scopes.getStore();
    if (!scope) return config;
    const c = config as typeof config & { retryAttempt?: number };
    c.httpsAgent = scope.httpsAgent;
    c.signal = scope.signal;
    c.timeout = scope.timeoutMs;
    if (c.retryAttempt === undefined) c.retryAttempt = NO_INNER_RETRY;
    return c;
  });
}

/** Runs `fn` with every acme-client request it makes bound to `scope`. */
export function withAcmeScope<T>(scope: AcmeRequestScope, fn: () => Promise<T>): Promise<T> {
  install();
  return scopes.run(scope, fn);
}

/** `ca` replaces Node's bundled roots for the ACME server's HTTPS, as for any https client. */
export function createAcmeAgent(ca: string | Buffer | (string | Buffer)[] | undefined): AcmeAgent {
  // keepAlive: an issuance is a burst of ~10 requests to one host
  return new AcmeAgent({ ...(ca !== undefined ? { ca } : {}), keepAlive: true, maxSockets: 4 });
}
