/**
 * The edge's part of a protocol whose server speaks first (`starttls: mysql`,
 * `nats` on a listener): the upstream of the listener's one route is dialled
 * as the client connects (by the forwarder: `dial` below), its greeting is
 * relayed with only what TLS needs changed (MySQL: the CLIENT_SSL capability;
 * NATS: `tls_required`), and the client's TLS request is read: MySQL's
 * SSLRequest packet, kept to be passed on to the server after our own TLS
 * handshake with the client; NATS: the client's ClientHello itself, right
 * after INFO. A client that does not ask for TLS gets the protocol's own error
 * (a MySQL ERR packet, a NATS -ERR line) and the connection is refused.
 *
 * The dialled upstream socket rides along with the client's raw socket until
 * the forwarder takes it (`serverFirstOf`); it is destroyed when the client's
 * socket closes, whatever happened in between.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { CountersignError } from '../errors.js';
import { errPacket, greetingWithSsl, isSslRequest, parseGreeting, readPacket, type MysqlGreeting } from './mysql-wire.js';
import { infoWithTlsRequired, MAX_CLIENT_LINE, natsErr, parseInfo, readLine } from './nats-wire.js';
import { peekBytes, readPrefix } from './preamble.js';
import { ConnectionNotes } from './connection-notes.js';

export type ServerFirstProtocol = 'mysql' | 'nats';

/** An upstream connection opened for a client, waiting for the client's TLS handshake. */
export interface ServerFirstUpstream {
  /** the server's greeting as it arrived (a MySQL Initial Handshake packet, a NATS INFO line), already checked */
  greeting: Buffer;
  /** closes the upstream connection (the client left or was refused); idempotent */
  abort(): void;
}

/** What the forwarder finds on a client's TLS socket: the upstream and the client's TLS request to pass on. */
export interface ServerFirstHandover<U extends ServerFirstUpstream = ServerFirstUpstream> {
  upstream: U;
  /** MySQL: the client's SSLRequest packet, written to the server before our TLS handshake with it; NATS: empty */
  request: Buffer;
}

/** the handover of each connection that came in on a server-first listener */
const handovers = new ConnectionNotes<ServerFirstHandover>();

/** The handover of a TLS client that came in on a server-first listener, or undefined. */
export function serverFirstOf<U extends ServerFirstUpstream>(s: TLSSocket): ServerFirstHandover<U> | undefined {
  return handovers.get(s) as ServerFirstHandover<U> | undefined;
}

/** The protocol's own error for a client refused before TLS (`seq`: MySQL's next sequence number). */
export function serverFirstError(protocol: ServerFirstProtocol, message: string, seq = 0): Buffer {
  return protocol === 'mysql'
    // 1105 ER_UNKNOWN_ERROR, SQLSTATE 08S01 (communication link failure): the client's own driver says the rest
    ? errPacket(seq, { code: 1105, sqlState: '08S01', message: `countersign: ${message}` })
    : natsErr(message);
}

/** The greeting as the client must see it (the upstream side checked it: a MySQL handshake, a NATS INFO offering TLS). */
export function greetingForClient(protocol: ServerFirstProtocol, greeting: Buffer): Buffer {
  if (protocol === 'nats') return infoWithTlsRequired(parseInfo(greeting, 'upstream'));
  const mysqlGreeting = parseGreeting(readPacket(greeting)!.value, 'upstream') as MysqlGreeting;
  return greetingWithSsl(mysqlGreeting);
}

const PROXY_V1 = Buffer.from('PROXY ');
const PROXY_V2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/**
 * Relays the greeting, then reads the client's TLS request and returns what
 * to pass on. A client that sends anything else gets the protocol's error and
 * the connection is closed (rejects with ERR_EDGE_PREAMBLE, or
 * ERR_PROXY_PROTOCOL for a PROXY header from a source that may not send one).
 */
export async function relayServerFirst(raw: Socket, protocol: ServerFirstProtocol, upstream: ServerFirstUpstream, opts: { proxyProtocolRefused?: boolean } = {}): Promise<void> {
  const handover: ServerFirstHandover = { upstream, request: Buffer.alloc(0) };
  handovers.set(raw, handover);
  raw.once('close', () => upstream.abort());
  raw.write(greetingForClient(protocol, upstream.greeting));
  const refuse = (reply: Buffer, err: CountersignError): never => {
    raw.end(reply);
    throw err;
  };
  const proxyHeader = (b: Buffer) => opts.proxyProtocolRefused && (b.subarray(0, 6).equals(PROXY_V1) || b.subarray(0, 12).equals(PROXY_V2));
  if (protocol === 'nats') {
    const first = await peekBytes(raw, 1);
    if (first[0] === 0x16) return; // a TLS record: the client starts TLS right after INFO
    const { value: line } = await readPrefix(raw, readLine(MAX_CLIENT_LINE), MAX_CLIENT_LINE + 1);
    if (proxyHeader(line)) refuse(natsErr('Secure Connection - TLS Required'), new CountersignError('ERR_PROXY_PROTOCOL', `PROXY protocol header from ${raw.remoteAddress}, which is not in edge.proxyProtocol.trusted`));
    const said = line.toString('latin1').trim().split(/\s/)[0].slice(0, 16);
    refuse(natsErr('Secure Connection - TLS Required'), new CountersignError('ERR_EDGE_PREAMBLE', `NATS client sent ${JSON.stringify(said)} instead of starting TLS after INFO; refused with -ERR (the client must use TLS: tls:// or a tls option)`));
  }
  // MySQL: the client's first packet must be an SSLRequest
  const head = await peekBytes(raw, 4).catch((err: Error) => { throw new CountersignError('ERR_EDGE_PREAMBLE', `MySQL client left after the greeting (${err.message})`, { cause: err }); });
  if (opts.proxyProtocolRefused && (head.equals(PROXY_V1.subarray(0, 4)) || head.equals(PROXY_V2.subarray(0, 4)))) {
    refuse(serverFirstError('mysql', 'refused', 0), new CountersignError('ERR_PROXY_PROTOCOL', `PROXY protocol header from ${raw.remoteAddress}, which is not in edge.proxyProtocol.trusted`));
  }
  const { value: p, rest } = await readPrefix(raw, readPacket, 64 * 1024);
  if (!isSslRequest(p)) {
    refuse(
      errPacket(p.seq + 1, { code: 3159, sqlState: '08004', message: 'Connections using insecure transport are prohibited: countersign accepts only TLS with a client certificate (use --ssl, ssl-mode=REQUIRED or stronger)' }),
      new CountersignError('ERR_EDGE_PREAMBLE', `MySQL client sent a ${p.payload.length}-byte handshake response without asking for TLS (no SSLRequest); refused with an ERR packet`),
    );
  }
  // as PostgreSQL's (CVE-2021-23214): nothing may follow the request before TLS but the ClientHello, which is read later
  if (rest > 0) {
    const next = await peekBytes(raw, 1);
    if (next[0] !== 0x16) throw new CountersignError('ERR_EDGE_PREAMBLE', 'bytes other than a TLS ClientHello followed the MySQL SSLRequest');
  }
  handover.request = p.bytes;
}
