/**
 * Loopback ports for tests and the benchmark: a free one, waiting until
 * something accepts connections, and listening a server on port 0.
 */
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { waitFor } from './wait.js';

/** ports this process has handed out: never handed out twice */
const handedOut = new Set<number>();

/**
 * A TCP port that was free a moment ago on 127.0.0.1 (for programs that cannot
 * report a port-0 bind: nginx, openssl, pebble), and never one this process
 * handed out before: the kernel can give a just-closed port again, and two
 * servers of one test told the same port fail (pebble and its challenge
 * server's management port once did, in CI).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const { port } = srv.address() as AddressInfo;
    await new Promise<void>((r) => srv.close(() => r()));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('freePort: the kernel kept giving ports this process had already handed out');
}

export interface WaitForPortOptions {
  /** default 10 000 */
  timeoutMs?: number;
  /** false once the process that should listen has exited: fail at once */
  alive?: () => boolean;
  /** what should listen, for the error message */
  what?: string;
  /** output of that process so far, appended to the error message */
  logs?: () => string;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, opts: WaitForPortOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const tail = () => (opts.logs ? `:\n${opts.logs()}` : '');
  const state = await waitFor(async () => {
    if (await accepts(port)) return 'listening';
    if (opts.alive && !opts.alive()) return 'exited';
    return false;
  }, `${opts.what ?? 'something'} to listen on 127.0.0.1:${port}`, timeoutMs).catch((err: Error) => { throw new Error(`${err.message}${tail()}`); });
  if (state === 'exited') throw new Error(`${opts.what ?? 'process'} exited before 127.0.0.1:${port} accepted connections${tail()}`);
}

/** One TCP connect: true when it was accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Listens `server` on 127.0.0.1, port 0, and returns the port. */
export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.removeListener('error', reject); resolve(); });
  });
  return (server.address() as AddressInfo).port;
}

/** Closes `server` and resolves when it has closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Pids (among `pids`) that hold a listening TCP socket on `port` (Linux
 * /proc): tells "our process still listens" apart from "some other program on
 * the machine took the freed port". An exited pid holds nothing.
 */
export function listeningHolders(port: number, pids: number[]): number[] {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  return pids.filter((pid) => {
    let fds: string[] = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return false; }
    return fds.some((fd) => {
      try { return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? ''); } catch { return false; }
    });
  });
}
