/**
 * What an upstream connection says before its TLS handshake: a PROXY protocol
 * header (the client's address, for backends behind their own balancer), then,
 * for `starttls: postgres`, PostgreSQL's SSLRequest answered by `S`.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { CountersignError } from '../errors.js';

/** Int32 length 8, Int32 80877103 (1234 << 16 | 5679) */
export const PG_SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
/** Int32 length 8, Int32 80877104 (1234 << 16 | 5680) */
export const PG_GSSENC_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);

export type UpstreamStarttls = 'postgres';

export interface DialOptions {
  host: string;
  port: number;
  /** upstream name and server, for error messages */
  what: string;
  /** PROXY protocol header written first */
  proxyHeader?: Buffer;
  starttls?: UpstreamStarttls;
}

/**
 * Opens TCP, writes the preamble and resolves with the socket, ready for TLS.
 * The caller bounds the time (it destroys the socket on its own timeout).
 */
export function dialUpstream(opts: DialOptions, onSocket?: (s: Socket) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: opts.host, port: opts.port, allowHalfOpen: true });
    onSocket?.(socket);
    const fail = (err: Error) => { socket.destroy(); reject(err); };
    socket.once('error', fail);
    socket.once('close', () => reject(new CountersignError('ERR_UPSTREAM_UNAVAILABLE', `${opts.what}: connection closed before TLS`)));
    socket.once('connect', () => {
      if (opts.proxyHeader) socket.write(opts.proxyHeader);
      if (opts.starttls !== 'postgres') { socket.removeListener('error', fail); socket.removeAllListeners('close'); resolve(socket); return; }
      socket.write(PG_SSL_REQUEST);
      socket.once('data', (d: Buffer) => {
        socket.pause();
        if (d.length === 1 && d[0] === 0x53 /* S */) {
          socket.removeListener('error', fail);
          socket.removeAllListeners('close');
          resolve(socket);
          return;
        }
        const what = d[0] === 0x4e ? 'N (the server does not accept SSL; set ssl = on in postgresql.conf)'
          : d[0] === 0x53 ? 'S followed by more bytes (refused: data before the TLS handshake)'
            : d[0] === 0x45 ? 'an error message (is it PostgreSQL?)'
              : `0x${d[0].toString(16)} (not a PostgreSQL server?)`;
        fail(new CountersignError('ERR_UPSTREAM_STARTTLS', `${opts.what}: PostgreSQL SSLRequest answered ${what}; check upstreams.<name>.starttls and the server`));
      });
    });
  });
}
