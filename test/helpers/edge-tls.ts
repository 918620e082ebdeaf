/**
 * Small helpers for the edge certificate tests: real TLS servers and clients on
 * 127.0.0.1, temp directories, and polling for asynchronous reloads.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { CertificateStore } from '../../src/edge/certificate-store.js';
import { readClientHello } from '../../src/edge/client-hello.js';
import type { TlsAlpnResponder } from '../../src/edge/acme/tls-alpn-responder.js';
import type { IssuedCertificate } from '../../src/pki/issue-certificate.js';

export async function makeTempDir(prefix = 'countersign-edge-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `name.crt` / `name.key` the way an operator would replace them: temp file, then rename. */
export async function writePair(dir: string, name: string, c: { certPem: string; keyPem: string }): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await atomicWrite(cert, c.certPem);
  await atomicWrite(key, c.keyPem, 0o600);
  return { cert, key };
}

export async function atomicWrite(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}

export interface EdgeTestServer {
  port: number;
  server: tls.Server;
  /** sockets that completed a handshake, for asserting they survive reloads */
  accepted: tls.TLSSocket[];
  close(): Promise<void>;
}

/** A TLS server wired to the store like the edge: SNICallback + the default context kept in sync. Echoes bytes. */
export async function startStoreServer(store: CertificateStore, opts: tls.TlsOptions = {}): Promise<EdgeTestServer> {
  const accepted: tls.TLSSocket[] = [];
  const server = tls.createServer({ ...opts, SNICallback: store.sniCallback }, (socket) => {
    accepted.push(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.on('tlsClientError', () => {});
  const detach = store.attachServer(server);
  // As the edge does: a store with several key types for a name reads each ClientHello first.
  const front = store.needsClientHello()
    ? createNetServer((socket) => {
      readClientHello(socket, { timeoutMs: 5_000 }).then(
        (hello) => { store.rememberClientHello(socket, hello); server.emit('connection', socket); },
        () => socket.destroy(),
      );
    })
    : undefined;
  const listening = front ?? server;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return {
    port: (listening.address() as AddressInfo).port,
    server,
    accepted,
    close: () => new Promise<void>((resolve) => {
      detach();
      for (const s of accepted) s.destroy();
      if (front) front.close(() => server.close(() => resolve()));
      else server.close(() => resolve());
    }),
  };
}

/**
 * The edge listener's front half as the lead will wire it: a plain TCP server
 * peeks each ClientHello, lets the tls-alpn-01 responder take ACME validation
 * connections, and hands every other socket (peeked bytes pushed back) to the
 * store-backed tls.Server. Echoes application data.
 */
export async function startEdgeHarness(opts: { store: CertificateStore; responder?: TlsAlpnResponder; port?: number; tls?: tls.TlsOptions }): Promise<EdgeTestServer> {
  const accepted: tls.TLSSocket[] = [];
  const raw = new Set<Socket>();
  const tlsServer = tls.createServer({ ALPNProtocols: ['http/1.1'], ...opts.tls, SNICallback: opts.store.sniCallback }, (socket) => {
    accepted.push(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  tlsServer.on('tlsClientError', () => {});
  const detach = opts.store.attachServer(tlsServer);
  const server = createNetServer((socket) => {
    raw.add(socket);
    socket.on('close', () => raw.delete(socket));
    readClientHello(socket, { timeoutMs: 5_000 }).then(
      (hello) => {
        opts.store.rememberClientHello(socket, hello);
        if (!opts.responder?.handle(socket, hello)) tlsServer.emit('connection', socket);
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server: tlsServer,
    accepted,
    close: () => new Promise<void>((resolve) => {
      detach();
      for (const s of raw) s.destroy();
      server.close(() => resolve());
    }),
  };
}

export interface HandshakeResult {
  socket: tls.TLSSocket;
  peer: X509Certificate;
  /** closes the client side */
  end(): void;
}

export interface HandshakeOptions extends tls.ConnectionOptions {
  port: number;
}

/** Completes a handshake and returns the server's leaf certificate. Verification is left to the caller unless `ca` is given. */
export function handshake(opts: HandshakeOptions): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', rejectUnauthorized: false, ...opts }, () => {
      const raw = socket.getPeerX509Certificate();
      if (!raw) { socket.destroy(); reject(new Error('server sent no certificate')); return; }
      resolve({ socket, peer: raw, end: () => socket.destroy() });
    });
    socket.once('error', reject);
  });
}

/** Sends `text` and waits for it to come back: proves a connection still carries data. */
export function echo(socket: tls.TLSSocket | Socket, text: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => { cleanup(); reject(new Error(`echo timed out, got "${got}"`)); }, timeoutMs);
    const onData = (d: Buffer) => { got += d.toString(); if (got.length >= text.length) { cleanup(); resolve(got); } };
    const onClose = () => { cleanup(); reject(new Error('connection closed during echo')); };
    const cleanup = () => { clearTimeout(timer); socket.off('data', onData); socket.off('close', onClose); };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(text);
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 8_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) { lastError = err; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function fingerprint(c: IssuedCertificate | X509Certificate): string {
  return (c instanceof X509Certificate ? c : c.cert).fingerprint256;
}

/** Runs `openssl s_client` against the server and returns the leaf certificate it received. */
export async function opensslLeaf(args: string[]): Promise<{ leaf: X509Certificate; output: string }> {
  const output = await new Promise<string>((resolve, reject) => {
    const p = spawn('openssl', ['s_client', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', () => resolve(out));
    p.stdin.end();
  });
  const pem = output.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/);
  if (!pem) throw new Error(`openssl s_client printed no certificate:\n${output}`);
  return { leaf: new X509Certificate(pem[0]), output };
}

/** A free TCP port on 127.0.0.1 (bound and released; fine for test servers started right after). */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
