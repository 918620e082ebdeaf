/**
 * Small Node backends for the end-to-end tests, each trusting the delegation CA
 * the way a real backend would:
 *
 * - startHttpsBackend: node:https + countersign/backend's createIdentifier. It
 *   records every request with the identity recovered from the socket's
 *   certificate and a number for the upstream TLS connection it came on, so a
 *   test can see which connection carried whom. Answers with a JSON echo unless
 *   a route handler takes the request. Optionally accepts WebSocket upgrades.
 * - startTlsBackend: a raw TLS server (connection mode): records the ALPN
 *   protocol and peer identity, and lets the test drive each socket.
 * - startCapturingBackend: an HTTPS server that records raw headers and the
 *   client certificate the proxy presented, for the nginx comparisons.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { createIdentifier, type Identifier } from '../../src/backend/index.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  /** number of the upstream TLS connection (1, 2, …) */
  socket: number;
  /** identity (SPKI SHA-256 of the original client certificate) recovered from the socket; undefined if none */
  identity?: string;
  subject?: string;
  via?: string;
  /** whether a CA vouched for `subject` (countersign/backend's namesVouched) */
  namesVouched?: boolean;
  /** the subject of the certificate the proxy presented: the user a backend that reads the CN sees */
  presentedSubject?: string;
  /** why identification failed, when it did */
  identifyError?: string;
  bodyBytes: number;
  bodySha256: string;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void;

export interface HttpsBackend {
  port: number;
  server: HttpsServer;
  requests: SeenRequest[];
  /** identities seen on each upstream connection, by connection number */
  identitiesBySocket(): Map<number, Set<string>>;
  /** messages received by the WebSocket server, with the identity of their connection */
  wsMessages: { identity?: string; data: string }[];
  /** identity of each accepted WebSocket connection, in order */
  wsClients: (string | undefined)[];
  close(): Promise<void>;
}

export interface HttpsBackendOptions {
  /** a PKI directory as written by `countersign certs init` */
  pkiDir: string;
  /** path prefix → handler; the longest matching prefix wins; everything else gets the JSON echo */
  routes?: Record<string, RouteHandler>;
  /** accept WebSocket upgrades (except under /forbidden: 403) and echo messages as "<identity>:<data>" */
  websocket?: boolean;
  /** default TLSv1.3 */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** read the body before the handler runs (default true; false lets a handler stream it) */
  readBody?: boolean;
  /** listen on this port (a restarted backend takes its old one); default a free port */
  port?: number;
}

type Identified = { identity?: string; subject?: string; via?: string; namesVouched?: boolean; presentedSubject?: string; identifyError?: string };
function identifyOrError(identifier: Identifier, socket: TLSSocket): Identified {
  const presentedSubject = socket.getPeerX509Certificate()?.subject.split('\n').join(', ');
  try {
    const r = identifier.identify(socket);
    return { identity: r.identity, subject: r.subject, via: r.via, namesVouched: r.namesVouched, presentedSubject };
  } catch (err) {
    return { identifyError: (err as Error).message, presentedSubject };
  }
}

export async function startHttpsBackend(o: HttpsBackendOptions): Promise<HttpsBackend> {
  const read = (f: string) => readFileSync(`${o.pkiDir}/${f}`);
  const identifier = createIdentifier({ delegationCAs: read('delegation-ca.crt') });
  const socketIds = new WeakMap<object, number>();
  let nextSocket = 1;
  const requests: SeenRequest[] = [];
  const wsMessages: { identity?: string; data: string }[] = [];
  const wsClients: (string | undefined)[] = [];
  const prefixes = Object.keys(o.routes ?? {}).sort((a, b) => b.length - a.length);

  const server = createHttpsServer({
    cert: read('backend.crt'), key: read('backend.key'), ca: read('delegation-ca.crt'),
    // anonymous routes forward without a client certificate; identification decides
    requestCert: true, rejectUnauthorized: false,
    minVersion: o.minVersion ?? 'TLSv1.3',
  }, (req, res) => {
    const socket = req.socket as TLSSocket;
    const who = identifyOrError(identifier, socket);
    const seen: SeenRequest = {
      method: req.method ?? '', url: req.url ?? '', headers: req.headers, socket: socketIds.get(socket) ?? 0,
      ...who, bodyBytes: 0, bodySha256: '',
    };
    requests.push(seen);
    const prefix = prefixes.find((p) => (req.url ?? '').startsWith(p));
    const handler = prefix ? o.routes![prefix] : undefined;
    if (o.readBody === false && handler) { handler(req, res, seen); return; }
    const hash = createHash('sha256');
    req.on('data', (d: Buffer) => { seen.bodyBytes += d.length; hash.update(d); });
    req.on('end', () => {
      seen.bodySha256 = hash.digest('hex');
      if (handler) { handler(req, res, seen); return; }
      const body = JSON.stringify(seen) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.on('secureConnection', (s: TLSSocket) => { socketIds.set(s, nextSocket++); });
  server.on('tlsClientError', (_err, s: TLSSocket) => { s.destroy(); /* the tests provoke these */ });
  const raw = trackSockets(server);

  if (o.websocket) {
    // Upgrades to /forbidden… are refused with a 403 and a body, as a backend's policy would.
    const wss = new WebSocketServer({
      server,
      verifyClient: (info, cb) => { if (info.req.url?.startsWith('/forbidden')) cb(false, 403, 'no chat for you'); else cb(true); },
    });
    wss.on('connection', (ws, req) => {
      const who = identifyOrError(identifier, req.socket as TLSSocket);
      wsClients.push(who.identity);
      ws.on('message', (data) => {
        const text = data.toString();
        wsMessages.push({ identity: who.identity, data: text });
        ws.send(`${who.identity ?? 'anonymous'}:${text}`);
      });
    });
  }

  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port ?? 0, '127.0.0.1', resolve); });
  return {
    port: (server.address() as AddressInfo).port,
    server,
    requests,
    wsMessages,
    wsClients,
    identitiesBySocket() {
      const m = new Map<number, Set<string>>();
      for (const r of requests) {
        if (!m.has(r.socket)) m.set(r.socket, new Set());
        m.get(r.socket)!.add(r.identity ?? 'anonymous');
      }
      return m;
    },
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); raw.destroyAll(); }),
  };
}

/** Every socket a server accepted, so close() never waits on one that failed its handshake. */
export function trackSockets(server: import('node:net').Server): { destroyAll(): void } {
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s: import('node:net').Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  return { destroyAll: () => { for (const s of sockets) s.destroy(); } };
}

export interface TlsBackendConnection {
  socket: TLSSocket;
  alpn: string | false;
  identity?: string;
  subject?: string;
  namesVouched?: boolean;
  /** the subject of the certificate the proxy presented: the user a backend that reads the CN sees */
  presentedSubject?: string;
  identifyError?: string;
  /** everything received so far */
  received(): string;
  /** resolves when the client half-closed (FIN received) */
  ended: Promise<void>;
  closed: Promise<void>;
}

export interface TlsBackend {
  port: number;
  server: TlsServer;
  connections: TlsBackendConnection[];
  /** resolves with the n-th connection (1-based) once it arrives */
  connection(n: number): Promise<TlsBackendConnection>;
  close(): Promise<void>;
}

/** A raw TLS backend for connection mode; `onConnection` drives each socket (default: echo). */
export async function startTlsBackend(o: {
  pkiDir: string;
  alpn?: string[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** refuse clients without a certificate from the delegation CA (default true; false for anonymous routes) */
  requireCert?: boolean;
  onConnection?: (c: TlsBackendConnection) => void;
}): Promise<TlsBackend> {
  const read = (f: string) => readFileSync(`${o.pkiDir}/${f}`);
  const identifier = createIdentifier({ delegationCAs: read('delegation-ca.crt') });
  const connections: TlsBackendConnection[] = [];
  const waiters: (() => void)[] = [];
  const server = createTlsServer({
    cert: read('backend.crt'), key: read('backend.key'), ca: read('delegation-ca.crt'),
    requestCert: true, rejectUnauthorized: o.requireCert !== false, allowHalfOpen: true,
    ALPNProtocols: o.alpn, minVersion: o.minVersion ?? 'TLSv1.2', maxVersion: o.maxVersion,
  }, (socket) => {
    let data = '';
    socket.on('data', (d: Buffer) => { data += d.toString(); });
    socket.on('error', () => {});
    const c: TlsBackendConnection = {
      socket, alpn: socket.alpnProtocol ?? false, ...identifyOrError(identifier, socket),
      received: () => data,
      ended: new Promise((r) => socket.once('end', () => r())),
      closed: new Promise((r) => socket.once('close', () => r())),
    };
    connections.push(c);
    if (o.onConnection) o.onConnection(c); else socket.pipe(socket);
    for (const w of waiters.splice(0)) w();
  });
  server.on('tlsClientError', (_err, s: TLSSocket) => { s.destroy(); /* the tests provoke these */ });
  const raw = trackSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    connections,
    async connection(n) {
      while (connections.length < n) await new Promise<void>((r) => waiters.push(r));
      return connections[n - 1];
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const c of connections) c.socket.destroy();
      raw.destroyAll();
    }),
  };
}

export interface CapturedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  /** DER of the certificate the proxy presented to the backend, if any */
  peerCertDer?: Buffer;
}

export interface CapturingBackend {
  port: number;
  server: HttpsServer;
  requests: CapturedRequest[];
  close(): Promise<void>;
}

/**
 * An HTTPS server on 127.0.0.1:0 that asks for a client certificate (the
 * proxy's), records every request and answers 200 with the captured headers as
 * JSON. `ca` verifies the proxy's certificate; without it any is accepted.
 */
export async function startCapturingBackend(opts: { certPem: string; keyPem: string; ca?: string }): Promise<CapturingBackend> {
  const requests: CapturedRequest[] = [];
  const server = createHttpsServer({
    cert: opts.certPem, key: opts.keyPem, ca: opts.ca, requestCert: true, rejectUnauthorized: opts.ca !== undefined,
  }, (req, res) => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate?.();
    const captured: CapturedRequest = {
      method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, rawHeaders: [...req.rawHeaders],
      peerCertDer: peer && 'raw' in peer && peer.raw ? Buffer.from(peer.raw) : undefined,
    };
    requests.push(captured);
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ headers: captured.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    requests,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
