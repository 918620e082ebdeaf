/**
 * HTTP/2 to the upstream (`upstreams.<name>.http2`): with `auto`, an HTTP/2
 * client's requests go over HTTP/2 to a server that selects it by ALPN (a
 * real Node http2 server that also speaks HTTP/1.1), an HTTP/1.1 client's
 * over HTTP/1.1; `on` sends every request over HTTP/2, `off` none. Over
 * HTTP/2 the server's trailers reach a client that asked for them, the body
 * streams both ways at once (full duplex), one identity's requests share its
 * session, and two identities never share one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as h2connect, createSecureServer, type ClientHttp2Session, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { trackSockets } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { http2UpstreamRoutes, identityOfFile } from '../helpers/e2e.js';
import { adminJson } from '../helpers/admin-client.js';
import { waitFor } from '../helpers/wait.js';
import { createIdentifier } from '../../src/backend/index.js';

let pki: TestPki;
let server: Http2SecureServer;
let proxy: ProxyProcess;
let admin: string;
const sockets = new WeakMap<object, number>();
let nextSocket = 1;

before(async () => {
  pki = await makePki();
  const f = (n: string) => readFileSync(pki.file(n));
  const identifier = createIdentifier({ delegationCAs: f('delegation-ca.crt') });
  server = createSecureServer({ cert: f('backend.crt'), key: f('backend.key'), ca: f('delegation-ca.crt'), requestCert: true, rejectUnauthorized: true, allowHTTP1: true, minVersion: 'TLSv1.3' },
    (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const socket = req.socket as TLSSocket;
      // the connection: an HTTP/2 request's session (its req.socket is a proxy object per stream), or the socket
      const connection: object = req.stream?.session ?? socket;
      if (!sockets.has(connection)) sockets.set(connection, nextSocket++);
      const who = { version: req.httpVersion, socket: sockets.get(connection), identity: identifier.identify(socket).identity };
      if (req.url.endsWith('/trailers')) {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.addTrailers({ 'x-checksum': 'c0ffee' });
        res.end(JSON.stringify(who));
        return;
      }
      if (req.url.endsWith('/echo-stream')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        req.on('data', (d: Buffer) => res.write(`echo:${d}\n`));
        req.on('end', () => res.end('done\n'));
        return;
      }
      req.resume();
      req.on('end', () => res.end(JSON.stringify(who)));
    });
  const t = trackSockets(server);
  after(() => t.destroyAll());
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  admin = `${pki.dir}/admin.sock`; // a unix socket: no port to race other tests for
  const config = baseConfig(pki.dir, port, { mode: 'http' }) as Record<string, unknown>;
  Object.assign(config, http2UpstreamRoutes(pki.dir, port));
  config.admin = { listen: admin };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await new Promise((r) => server?.close(r)); });

function session(who: string): ClientHttp2Session {
  const f = (n: string) => readFileSync(pki.file(n));
  return h2connect(`https://localhost:${proxy.port}`, { ca: f('edge-ca.crt'), cert: f(`${who}.crt`), key: f(`${who}.key`) });
}

function ask(s: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; trailers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':path': path, ...headers });
    let status = 0;
    let body = '';
    let trailers: Record<string, unknown> = {};
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (d: Buffer) => { body += d; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('end', () => resolve({ status, body, trailers }));
    req.on('error', reject);
    req.end();
  });
}

test('auto: an HTTP/2 client\'s request goes over HTTP/2, and the server\'s trailers reach it', async () => {
  const s = session('alice');
  try {
    const r = await ask(s, '/trailers', { te: 'trailers' });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body);
    assert.equal(seen.version, '2.0');
    assert.equal(seen.identity, identityOfFile(pki.dir, 'alice'), 'delegated: the server identifies alice');
    assert.equal(r.trailers['x-checksum'], 'c0ffee');
  } finally { s.close(); }
});

test('auto: an HTTP/1.1 client\'s request goes over HTTP/1.1; on and off decide otherwise', async () => {
  const version = async (path: string, v: string) => JSON.parse(curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}${path}`, [v])).body).version;
  assert.equal(await version('/plain', '--http1.1'), '1.1');
  assert.equal(await version('/on/plain', '--http1.1'), '2.0');
  assert.equal(await version('/off/plain', '--http2'), '1.1');
  assert.equal(await version('/plain', '--http2'), '2.0');
});

test('the body streams both ways at once: each echo arrives before the next piece is sent', async () => {
  const s = session('alice');
  try {
    const req = s.request({ ':path': '/echo-stream', ':method': 'POST' });
    let got = '';
    const next = (want: string) => new Promise<void>((resolve) => {
      const check = () => { if (got.includes(want)) { req.removeListener('data', onData); resolve(); } };
      const onData = (d: Buffer) => { got += d; check(); };
      req.on('data', onData);
      check();
    });
    for (const piece of ['one', 'two', 'three']) {
      const echoed = next(`echo:${piece}`);
      req.write(piece);
      await echoed;
    }
    const ended = new Promise((r) => req.on('end', r));
    req.on('data', (d: Buffer) => { got += d; });
    req.end();
    await ended;
    assert.match(got, /echo:one\necho:two\necho:three\ndone\n$/);
  } finally { s.close(); }
});

test('one identity\'s requests share its session; two identities never share one', async () => {
  const [a, b] = [session('alice'), session('bob')];
  try {
    const [a1, a2, b1] = await Promise.all([ask(a, '/x'), ask(a, '/y'), ask(b, '/z')]).then((rs) => rs.map((r) => JSON.parse(r.body)));
    assert.equal(a1.socket, a2.socket, 'alice\'s requests went over one upstream session');
    assert.notEqual(a1.socket, b1.socket, 'bob has his own');
    assert.equal(b1.identity, identityOfFile(pki.dir, 'bob'));
  } finally { a.close(); b.close(); }
});

test('afterwards the pool\'s counts are back at zero', async () => {
  await waitFor(async () => {
    const s = (await adminJson<{ http: Record<string, number>; upstreams: Record<string, { servers: { active: number }[] }> }>(admin, '/status')).body;
    return s.http.leases === 0 && s.http.busy === 0 && s.http.waiting === 0 && Object.values(s.upstreams).every((u) => u.servers.every((x) => x.active === 0));
  }, 'every count at zero', 10_000);
});
