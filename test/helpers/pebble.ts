/**
 * A real Pebble ACME server (Debian's /usr/bin/pebble) and pebble-challtestsrv as
 * its DNS, on free loopback ports, one pair per test. Pebble's HTTPS certificate
 * is issued here with src/pki; the ACME client trusts it through the manager's
 * `ca` option. Names resolve only after `addDomain()` (challtestsrv answers A
 * queries from its management API; the default answer is turned off), so a
 * test domain without DNS fails validation the way it would in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { AcmeEvent, AcmeManager } from '../../src/edge/acme/index.js';
import type { EdgeLogger } from '../../src/edge/logger.js';
import { issueCertificate } from '../../src/pki/dev/issue-certificate.js';
import { freePort, waitForPort } from './net.js';
import { tempDir } from './temp.js';

export interface PebbleOptions {
  /** port Pebble's validator connects to for http-01 */
  httpPort: number;
  /** port Pebble's validator connects to for tls-alpn-01 */
  tlsPort: number;
  /** lifetime of issued certificates in seconds (Pebble's default is 5 years) */
  certificateValidityPeriodSeconds?: number;
  /** require external account binding with these kid → base64url HMAC keys */
  eabKeys?: Record<string, string>;
}

export interface Pebble {
  /** ACME directory URL (https://127.0.0.1:<port>/dir) */
  directoryUrl: string;
  /** PEM of the CA that issued Pebble's HTTPS certificate: give it to the manager's `ca` */
  httpsCa: string;
  /** Pebble's issuing root, to verify issued certificates */
  issuingRoot(): Promise<string>;
  /** makes `domain` resolve to 127.0.0.1 for Pebble's validator */
  addDomain(domain: string): Promise<void>;
  /** output of both processes so far, for failure messages */
  logs(): string;
  stop(): Promise<void>;
}

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const { dir, cleanup } = await tempDir('countersign-pebble-');
  const ca = await issueCertificate({ subject: 'CN=pebble test HTTPS CA', ca: true });
  const tlsCert = await issueCertificate({ subject: 'CN=localhost', issuer: ca, usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  await writeFile(join(dir, 'cert.pem'), tlsCert.certPem);
  await writeFile(join(dir, 'key.pem'), tlsCert.keyPem, { mode: 0o600 });
  const [acmePort, mgmtPort, dnsPort, challMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: join(dir, 'cert.pem'),
      privateKey: join(dir, 'key.pem'),
      httpPort: opts.httpPort,
      tlsPort: opts.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: !!opts.eabKeys,
      ...(opts.eabKeys ? { externalAccountMACKeys: opts.eabKeys } : {}),
      ...(opts.certificateValidityPeriodSeconds ? { certificateValidityPeriod: opts.certificateValidityPeriodSeconds } : {}),
    },
  }));

  let output = '';
  const children: ChildProcess[] = [];
  const run = (cmd: string, args: string[], env: Record<string, string> = {}) => {
    const p = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d) => { output += d; });
    p.stderr!.on('data', (d) => { output += d; });
    children.push(p);
    return p;
  };
  const stop = async () => {
    await Promise.all(children.map((p) => new Promise<void>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) { resolve(); return; }
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    })));
    await cleanup();
  };

  try {
    run('pebble-challtestsrv', [
      '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${challMgmtPort}`,
      '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '', '-defaultIPv6', '',
    ]);
    await waitForPort(challMgmtPort, { what: 'pebble-challtestsrv', logs: () => output });
    run('pebble', ['-config', join(dir, 'config.json'), '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'], {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_VA_ALWAYS_VALID: '0',
      PEBBLE_WFE_NONCEREJECT: '0', // acme-client retries badNonce, but determinism beats coverage here
      PEBBLE_AUTHZREUSE: '0', // every order runs its challenge, renewals included
    });
    await waitForPort(acmePort, { what: 'pebble', logs: () => output });
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
    httpsCa: ca.certPem,
    issuingRoot: () => get(httpsRequest, `https://127.0.0.1:${mgmtPort}/roots/0`, ca.certPem),
    addDomain: async (domain) => {
      await post(`http://127.0.0.1:${challMgmtPort}/add-a`, JSON.stringify({ host: domain, addresses: ['127.0.0.1'] }));
    },
    logs: () => output,
    stop,
  };
}

function get(request: typeof httpsRequest, url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function post(url: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`POST ${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A TCP relay in front of Pebble's ACME port that counts connections and can be
 * switched off: proves a restarted manager never contacted the CA, and makes
 * the CA "go down" and come back without losing Pebble's state.
 */
export interface AcmeRelay {
  port: number;
  directoryUrl: string;
  connections: number;
  /** refuse (reset) new connections until `up()` */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startRelay(pebble: Pebble): Promise<AcmeRelay> {
  const target = new URL(pebble.directoryUrl);
  let refusing = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    relay.connections++;
    if (refusing) { client.resetAndDestroy(); return; }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const relay: AcmeRelay = {
    port,
    directoryUrl: `https://127.0.0.1:${port}${target.pathname}`,
    connections: 0,
    down: () => { refusing = true; for (const s of sockets) s.destroy(); sockets.clear(); },
    up: () => { refusing = false; },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
  return relay;
}

/** Records a manager's events; `next()` waits for one that matches. */
export function recordEvents(manager: Pick<AcmeManager, 'on'>): { all: AcmeEvent[]; next: (match: (e: AcmeEvent) => boolean, what: string, timeoutMs?: number) => Promise<AcmeEvent> } {
  const all: AcmeEvent[] = [];
  const waiters = new Set<{ match: (e: AcmeEvent) => boolean; resolve: (e: AcmeEvent) => void }>();
  manager.on((e) => {
    all.push(e);
    for (const w of waiters) if (w.match(e)) { waiters.delete(w); w.resolve(e); }
  });
  return {
    all,
    next: (match, what, timeoutMs = 20_000) => new Promise((resolve, reject) => {
      const w = { match, resolve: (e: AcmeEvent) => { clearTimeout(t); resolve(e); } };
      const t = setTimeout(() => { waiters.delete(w); reject(new Error(`no ${what} event within ${timeoutMs} ms; saw: ${JSON.stringify(all)}`)); }, timeoutMs);
      waiters.add(w);
    }),
  };
}

/** Timings that keep a Pebble test to seconds. */
export const FAST_ACME = { retryMinMs: 200, retryMaxMs: 2_000, pollMinMs: 100, pollMaxMs: 500, checkIntervalMs: 1_000, requestTimeoutMs: 5_000 };

/** Collects log lines the way pino would receive them. */
export function memoryLogger(): EdgeLogger & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg: string) => { lines.push({ level, msg, obj }); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}
