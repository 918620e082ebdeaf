/**
 * What an upstream connection says before its TLS handshake: a PROXY protocol
 * header (the client's address, for backends behind their own balancer), then
 * what its `starttls` names:
 * - `postgres`: PostgreSQL's SSLRequest, answered by `S`;
 * - `mysql`: the server greets first (a protocol-10 handshake with CLIENT_SSL,
 *   or an ERR packet saying why not); the client's SSLRequest follows;
 * - `nats`: the server sends INFO first (with `tls_required`); TLS follows.
 * For the server-first two, `openServerFirst` stops after the greeting (the
 * proxy relays it to its client and passes the client's own request on);
 * `dialUpstream` — health checks, ALPN probes, `check --connect` — sends a
 * request of its own.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { CountersignError } from '../errors.js';
import { formatHostPort, type UpstreamStarttlsName } from '../config/index.js';
import { mysqlWire, natsWire } from '../edge/index.js';
import { UpstreamHandshakeError, type HandshakeDiagnosis } from './upstream-diagnosis.js';

/** Int32 length 8, Int32 80877103 (1234 << 16 | 5679) */
export const PG_SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
/** Int32 length 8, Int32 80877104 (1234 << 16 | 5680) */
export const PG_GSSENC_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);

export type UpstreamStarttls = UpstreamStarttlsName;

export interface DialOptions {
  host: string;
  port: number;
  /** upstream name and server, for error messages */
  what: string;
  /** the upstream's name, for the key a diagnosis names */
  upstream?: string;
  /** PROXY protocol header written first */
  proxyHeader?: Buffer;
  starttls?: UpstreamStarttls;
}

/** Opens TCP and writes the PROXY header; resolves once connected. */
function connectRaw(opts: DialOptions, onSocket?: (s: Socket) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: opts.host, port: opts.port, allowHalfOpen: true });
    onSocket?.(socket);
    const fail = (err: Error) => { socket.destroy(); reject(err); };
    socket.once('error', fail);
    socket.once('close', () => reject(new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `${opts.what}: connection closed before TLS`)));
    socket.once('connect', () => {
      socket.removeListener('error', fail);
      socket.removeAllListeners('close');
      if (opts.proxyHeader) socket.write(opts.proxyHeader);
      resolve(socket);
    });
  });
}

/** Reads from `socket` until `parse` has a value; what follows is pushed back. Errors and a close reject. */
function readUpstream<T>(socket: Socket, dial: DialOptions, parse: (b: Buffer) => { value: T; consumed: number } | null): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err: Error | null, v?: T, consumed = 0) => {
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.pause();
      if (err) { socket.destroy(); reject(err); return; }
      if (consumed < buf.length) socket.unshift(buf.subarray(consumed));
      resolve(v as T);
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      try {
        const r = parse(buf);
        if (r) done(null, r.value, r.consumed);
      } catch (err) {
        done(err instanceof CountersignError && err.code === 'ERR_EDGE_PREAMBLE'
          ? new CountersignError('ERR_UPSTREAM_STARTTLS', `${dial.what}: ${err.message}`, { cause: err })
          : err as Error);
      }
    };
    const onError = (err: Error) => done(err);
    const onEnd = () => done(new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `${dial.what}: the server closed the connection before TLS${buf.length ? ` after ${buf.length} bytes` : ''}`));
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/** The server cannot do TLS (or refused us before it): a diagnosis naming the server-side setting. */
function noTls(dial: DialOptions, tlsCode: string, message: string, fix: string): UpstreamHandshakeError {
  const name = dial.upstream ?? dial.what;
  const d: HandshakeDiagnosis = { kind: 'protocol', upstream: name, server: formatHostPort(dial), servername: '', tlsCode, fix, message: `${dial.what}: ${message}` };
  return new UpstreamHandshakeError(d);
}

/**
 * The greeting of a server-first protocol, checked: a MySQL handshake that
 * offers TLS (an ERR packet or no CLIENT_SSL is an error that says so), a
 * NATS INFO with `tls_required` or `tls_available`.
 */
export async function readServerGreeting(socket: Socket, dial: DialOptions & { starttls: 'mysql' | 'nats' }): Promise<Buffer> {
  if (dial.starttls === 'nats') {
    const line = await readUpstream(socket, dial, natsWire.readLine(natsWire.MAX_INFO_LINE));
    const info = natsWire.parseInfo(line, dial.what);
    if (!natsWire.offersTls(info)) {
      throw noTls(dial, 'NO_TLS', 'its INFO offers no TLS (neither tls_required nor tls_available): configure a tls { cert_file, key_file, ca_file } block on the NATS server', 'the NATS server\'s tls block');
    }
    return line;
  }
  const p = await readUpstream(socket, dial, mysqlWire.readPacket);
  const greeting = mysqlWire.parseGreeting(p, dial.what);
  if ('error' in greeting) {
    throw noTls(dial, `MYSQL_${greeting.error.code}`, `the server refused the connection before TLS: ERROR ${greeting.error.code}${greeting.error.sqlState ? ` (${greeting.error.sqlState})` : ''}: ${greeting.error.message}`,
      greeting.error.code === 1129 ? 'the server\'s host cache (mariadb-admin flush-hosts; raise max_connect_errors)' : `the server (${dial.host}:${dial.port})`);
  }
  if (!(greeting.capabilities & mysqlWire.CLIENT_SSL)) {
    throw noTls(dial, 'NO_TLS', `${greeting.serverVersion} does not offer TLS (no CLIENT_SSL in its handshake): set ssl_cert, ssl_key and ssl_ca in the server's my.cnf`, 'the server\'s ssl_cert / ssl_key / ssl_ca');
  }
  return p.bytes;
}

/** Connects and reads a server-first greeting; the socket is left before TLS, paused. */
export async function openServerFirst(dial: DialOptions & { starttls: 'mysql' | 'nats' }, onSocket?: (s: Socket) => void): Promise<{ socket: Socket; greeting: Buffer }> {
  const socket = await connectRaw(dial, onSocket);
  try {
    return { socket, greeting: await readServerGreeting(socket, dial) };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/**
 * Opens TCP, writes the preamble (sending a request of its own where the
 * server speaks first) and resolves with the socket, ready for TLS.
 * The caller bounds the time (it destroys the socket on its own timeout).
 */
export async function dialUpstream(dial: DialOptions, onSocket?: (s: Socket) => void): Promise<Socket> {
  if (dial.starttls === 'mysql' || dial.starttls === 'nats') {
    const { socket, greeting } = await openServerFirst({ ...dial, starttls: dial.starttls }, onSocket);
    if (dial.starttls === 'mysql') socket.write(mysqlWire.sslRequestFor(mysqlWire.parseGreeting(mysqlWire.readPacket(greeting)!.value, dial.what) as mysqlWire.MysqlGreeting));
    return socket;
  }
  const socket = await connectRaw(dial, onSocket);
  if (dial.starttls !== 'postgres') return socket;
  socket.write(PG_SSL_REQUEST);
  const answer = await readUpstream(socket, dial, (b) => ({ value: Buffer.from(b), consumed: b.length }));
  if (answer.length === 1 && answer[0] === 0x53 /* S */) return socket;
  socket.destroy();
  const what = answer[0] === 0x4e ? 'N (the server does not accept SSL; set ssl = on in postgresql.conf)'
    : answer[0] === 0x53 ? 'S followed by more bytes (refused: data before the TLS handshake)'
      : answer[0] === 0x45 ? 'an error message (is it PostgreSQL?)'
        : `0x${answer[0].toString(16)} (not a PostgreSQL server?)`;
  throw new CountersignError('ERR_UPSTREAM_STARTTLS', `${dial.what}: PostgreSQL SSLRequest answered ${what}; check upstreams.<name>.starttls and the server`);
}
