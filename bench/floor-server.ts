/**
 * Node floors for the benchmark: the least a Node.js proxy in front of the bench
 * backend can do, with the same certificates, TLS settings and client
 * verification as countersign's edge, and nothing of countersign. What these
 * cost is what Node itself costs; no Node proxy can go below them on this
 * machine.
 *
 *   node dist/bench/floor-server.js KIND PORT BACKEND_PORT PKI_DIR
 *
 * KIND:
 * - `https`: an https server that answers the bench body itself (no proxying):
 *   the TLS server and HTTP server alone;
 * - `undici`: that server forwarding each request through one undici Pool with
 *   a raw dispatch handler (what http mode does, minus routing, identity,
 *   header hygiene and logging);
 * - `tls-pipe`: a TLS server piping each connection to a new upstream TLS
 *   connection that resumes one stored session (what connection mode does for a
 *   returning identity, minus identity and logging).
 *
 * Never used outside `npm run bench`: it skips every check a proxy must make.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Pool, type Dispatcher } from 'undici';
import { BACKEND_BODY } from './lib/nginx.js';

export type FloorKind = 'https' | 'undici' | 'tls-pipe';
export const FLOOR_KINDS: readonly FloorKind[] = ['https', 'undici', 'tls-pipe'];

function main(): void {
  const [kind, portArg, backendPortArg, pkiDir] = process.argv.slice(2);
  if (!FLOOR_KINDS.includes(kind as FloorKind) || !pkiDir) {
    process.stderr.write('usage: floor-server.js https|undici|tls-pipe PORT BACKEND_PORT PKI_DIR\n');
    process.exit(2);
  }
  const port = Number(portArg);
  const backendPort = Number(backendPortArg);
  const file = (name: string) => readFileSync(`${pkiDir}/${name}`);
  // countersign's edge: client certificates asked for and verified by OpenSSL, refused afterwards
  const edge = { cert: file('edge.crt'), key: file('edge.key'), ca: file('client-ca.crt'), requestCert: true, rejectUnauthorized: false };
  const upstream = {
    cert: file('proxy-client.crt'), key: file('proxy-client.key'), ca: file('backend-ca.crt'),
    servername: 'backend.internal', minVersion: 'TLSv1.3' as const,
  };
  const body = Buffer.from(BACKEND_BODY);
  process.on('SIGTERM', () => process.exit(0));

  if (kind === 'https') {
    createHttpsServer(edge, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    }).listen(port, '127.0.0.1');
    return;
  }

  if (kind === 'undici') {
    const pool = new Pool(`https://127.0.0.1:${backendPort}`, { connect: upstream, connections: 64, keepAliveTimeout: 30_000 });
    createHttpsServer(edge, (req, res) => {
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {},
        onResponseStart(_c, status, headers) {
          const h: Record<string, string | string[] | undefined> = { ...headers };
          delete h.connection;
          delete h['keep-alive'];
          res.writeHead(status, h);
        },
        onResponseData(_c, chunk) { res.write(chunk); },
        onResponseEnd() { res.end(); },
        onResponseError(_c, err) { res.destroy(err); },
      };
      pool.dispatch({ path: req.url ?? '/', method: req.method ?? 'GET', headers: { host: 'backend.internal' } }, handler);
    }).listen(port, '127.0.0.1');
    return;
  }

  let session: Buffer | undefined;
  createTlsServer(edge, (client: TLSSocket) => {
    const up = tlsConnect({ ...upstream, host: '127.0.0.1', port: backendPort, session });
    up.on('session', (s: Buffer) => { session = s; });
    client.pipe(up);
    up.pipe(client);
    for (const [a, b] of [[client, up], [up, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  }).listen(port, '127.0.0.1');
}

main();
