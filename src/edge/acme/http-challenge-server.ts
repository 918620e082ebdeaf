/**
 * The plain-HTTP listener ACME needs for http-01 (port 80 in production):
 * `GET /.well-known/acme-challenge/<token>` answers the key authorization while
 * the challenge is pending (a token unknown here is looked up in the fleet's
 * shared ACME storage, where another instance may have published it); every other request is redirected (308, method and
 * body preserved) to the same host and path over https, as Caddy and
 * Traefik do, so the port is useful rather than a dead end.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from '../../node-http.js';
import type { AddressInfo } from 'node:net';
import { CountersignError } from '../../errors.js';
import { silentLogger, reasonOf, type EdgeLogger } from '../logger.js';
import type { ChallengeRegistry } from './challenge-registry.js';

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
// RFC 8555 §8.1: tokens are base64url
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export interface HttpChallengeServerOptions {
  challenges: ChallengeRegistry;
  /** where to listen, e.g. `{ host: '0.0.0.0', port: 80 }` */
  listen: { host: string; port: number };
  /** the port https redirects point to; default 443 (left out of the URL) */
  httpsPort?: number;
  logger?: EdgeLogger;
}

export interface HttpChallengeServer {
  address(): AddressInfo;
  close(): Promise<void>;
}

export async function startHttpChallengeServer(opts: HttpChallengeServerOptions): Promise<HttpChallengeServer> {
  const logger = opts.logger ?? silentLogger;
  const httpsPort = opts.httpsPort ?? 443;
  const server: Server = http.createServer((req, res) => respond(req, res));
  // a validator or a browser needs seconds, not minutes
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;

  function respond(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const path = url.split('?')[0];
    if (path.startsWith(CHALLENGE_PREFIX)) {
      const token = path.slice(CHALLENGE_PREFIX.length);
      if (!TOKEN.test(token)) { answer(req, res, token, undefined); return; }
      opts.challenges.lookupHttp(token).then((k) => answer(req, res, token, k), (err: unknown) => {
        logger.warn({ token, ...reasonOf(err) }, 'http-01 token lookup in ACME storage failed');
        answer(req, res, token, undefined);
      });
      return;
    }
    const host = req.headers.host;
    if (!host || !HOST.test(host)) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('missing or invalid Host header\n');
      return;
    }
    const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
    const location = `https://${hostname}${httpsPort === 443 ? '' : `:${httpsPort}`}${url.startsWith('/') ? url : '/'}`;
    res.writeHead(308, { location, 'content-type': 'text/plain' }).end(`use ${location}\n`);
  }

  function answer(req: IncomingMessage, res: ServerResponse, token: string, keyAuthorization: string | undefined): void {
    if (keyAuthorization === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such challenge\n');
      return;
    }
    logger.info({ token, remoteAddress: req.socket.remoteAddress }, 'answered http-01 validation');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(keyAuthorization) });
    res.end(req.method === 'HEAD' ? undefined : keyAuthorization);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new CountersignError('ERR_LISTEN', `acme.httpListen ${opts.listen.host}:${opts.listen.port}: cannot listen (${(err as NodeJS.ErrnoException).code ?? err.message}); free the port or choose another (http-01 validation always arrives on port 80 in production)`, { cause: err })));
    server.listen(opts.listen.port, opts.listen.host, () => resolve());
  });
  return {
    address: () => server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
