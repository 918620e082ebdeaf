/**
 * The CLI's client for the running proxy's admin listener (`admin.listen`):
 * `certs status` and `reload` ask the running process rather than the files.
 */
import { http } from '../node-http.js';
import { hostPortOf, isSocketPath } from '../config/index.js';
import { ADMIN_REQUEST_HEADER } from '../observe/index.js';

export interface AdminAnswer { status: number; body: unknown }

export function adminRequest(listen: string, path: string, method = 'GET', timeoutMs = 10_000): Promise<AdminAnswer> {
  let target: { socketPath: string } | { host: string; port: number };
  if (isSocketPath(listen)) target = { socketPath: listen };
  else {
    const hp = hostPortOf(listen);
    let host = hp.host;
    // a wildcard listen address is reached on loopback
    if (host === '0.0.0.0') host = '127.0.0.1';
    if (host === '::') host = '::1';
    target = { host, port: hp.port };
  }
  return new Promise((resolve, reject) => {
    // the header that tells the listener this is no browser page's cross-site request (observe/admin-guard.ts)
    const req = http.request({ ...target, path, method, timeout: timeoutMs, headers: { [ADMIN_REQUEST_HEADER]: '1' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => {
        try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }); } catch { reject(new Error(`admin ${path}: not JSON (${res.statusCode})`)); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`admin ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
