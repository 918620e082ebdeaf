/**
 * Trailers both ways through http mode to an HTTP/2 upstream (a real Node
 * http2 server, ALPN h2, that also speaks HTTP/1.1): a request's trailers,
 * sent by an HTTP/2 client (waitForTrailers) or an HTTP/1.1 client (chunked,
 * a trailer section), reach the server as exactly the end-to-end fields sent,
 * with the body intact; the fields a head would lose (hop-by-hop, identity,
 * forwarding) are lost from trailers too. The same trailers reach an
 * HTTP/1.1 upstream in its last chunk (`http2: off`). The server's answer
 * trailers reach an HTTP/2 client and an HTTP/1.1 client that sent
 * `TE: trailers`, and not one that did not.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as h2connect, createSecureServer, type ClientHttp2Session, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type OutgoingHttpHeaders } from 'node:http2';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { trackSockets } from '../helpers/node-backend.js';
import { http2UpstreamRoutes } from '../helpers/e2e.js';

let pki: TestPki;
let server: Http2SecureServer;
let proxy: ProxyProcess;

/** what the server saw of one request, sent back as its answer */
interface Seen { version: string; length: number; sha256: string; trailers: string[] }

before(async () => {
  pki = await makePki();
  const f = (n: string) => readFileSync(pki.file(n));
  server = createSecureServer({ cert: f('backend.crt'), key: f('backend.key'), ca: f('delegation-ca.crt'), requestCert: true, rejectUnauthorized: true, allowHTTP1: true },
    (req: Http2ServerRequest, res: Http2ServerResponse) => {
      if (req.url.endsWith('/answer-trailers')) {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-answer-checksum' });
        res.addTrailers({ 'x-answer-checksum': 'c0ffee', 'x-answer-note': 'done' });
        res.end('the answer');
        return;
      }
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (d: Buffer) => { hash.update(d); length += d.length; });
      req.on('end', () => {
        const seen: Seen = { version: req.httpVersion, length, sha256: hash.digest('hex'), trailers: req.rawTrailers.map((x, i) => (i % 2 ? x : x.toLowerCase())) };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(seen));
      });
    });
  const t = trackSockets(server);
  after(() => t.destroyAll());
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  const config = baseConfig(pki.dir, port, { mode: 'http' }) as Record<string, unknown>;
  Object.assign(config, http2UpstreamRoutes(pki.dir, port));
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await new Promise((r) => server?.close(r)); });

const body = randomBytes(300_000);
const sha256 = createHash('sha256').update(body).digest('hex');
const pieces = [body.subarray(0, 1000), body.subarray(1000, 150_000), body.subarray(150_000)];
/** the end-to-end trailers every client sends, and all the server may receive */
const kept = ['x-checksum', sha256, 'x-note', 'sent last'];
/** trailers an HTTP/2 client can send that must not reach the server (identity and forwarding fields; nghttp2 itself refuses framing fields there) */
const forgedH2: OutgoingHttpHeaders = {
  'x-tls-client-cert': 'forged', 'client-cert': ':Zm9yZ2Vk:', 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6',
  forwarded: 'for=6.6.6.6',
};
/** the same over HTTP/1.1, plus the connection's own fields its parser lets through in a trailer section */
const forgedH1: Record<string, string> = {
  'X-Tls-Client-Cert': 'forged', 'Client-Cert': ':Zm9yZ2Vk:', 'X-Forwarded-For': '6.6.6.6', 'X-Real-IP': '6.6.6.6', Forwarded: 'for=6.6.6.6',
  Host: 'evil.example', Connection: 'keep-alive', 'Keep-Alive': 'timeout=5', TE: 'trailers', Trailer: 'X-Checksum', 'Proxy-Authorization': 'Basic Zm9vOmJhcg==',
};

function session(): ClientHttp2Session {
  const f = (n: string) => readFileSync(pki.file(n));
  return h2connect(`https://localhost:${proxy.port}`, { ca: f('edge-ca.crt'), cert: f('alice.crt'), key: f('alice.key') });
}

/** POSTs `body` in pieces over HTTP/2, then the trailers (waitForTrailers); the server's record of it. */
async function postOverH2(path: string): Promise<Seen> {
  const s = session();
  try {
    return await new Promise<Seen>((resolve, reject) => {
      const req = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/octet-stream' }, { waitForTrailers: true });
      req.on('wantTrailers', () => req.sendTrailers({ 'x-checksum': kept[1], 'x-note': kept[3], ...forgedH2 }));
      let status = 0;
      let text = '';
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (d: Buffer) => { text += d; });
      req.on('end', () => (status === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${status}: ${text}`))));
      req.on('error', reject);
      for (const p of pieces) req.write(p);
      req.end();
    });
  } finally { s.close(); }
}

/** POSTs `body` chunked over HTTP/1.1 with a trailer section (TE: trailers); the server's record of it. */
function postOverH1(path: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const f = (n: string) => readFileSync(pki.file(n));
    const req = httpsRequest({
      host: '127.0.0.1', port: proxy.port, servername: 'localhost', path, method: 'POST', agent: false,
      ca: f('edge-ca.crt'), cert: f('alice.crt'), key: f('alice.key'),
      headers: { host: 'localhost', 'transfer-encoding': 'chunked', trailer: 'X-Checksum, X-Note', te: 'trailers', connection: 'close' },
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    for (const p of pieces) req.write(p);
    req.addTrailers([['X-Checksum', kept[1]], ['X-Note', kept[3]], ...Object.entries(forgedH1)]);
    req.end();
  });
}

test('an HTTP/2 client\'s request trailers reach an HTTP/2 upstream: exactly the end-to-end fields, the body intact', async () => {
  const seen = await postOverH2('/upload');
  assert.equal(seen.version, '2.0', 'auto: the request went over HTTP/2');
  assert.equal(seen.length, body.length);
  assert.equal(seen.sha256, sha256);
  assert.deepEqual(seen.trailers, kept);
});

test('an HTTP/1.1 client\'s chunked trailer section reaches an HTTP/2 upstream: exactly the end-to-end fields, the body intact', async () => {
  const seen = await postOverH1('/on/upload');
  assert.equal(seen.version, '2.0', 'http2: on: the request went over HTTP/2');
  assert.equal(seen.length, body.length);
  assert.equal(seen.sha256, sha256);
  assert.deepEqual(seen.trailers, kept);
});

test('the same trailers reach an HTTP/1.1 upstream in the last chunk, from either client', async () => {
  for (const seen of [await postOverH1('/off/upload'), await postOverH2('/off/upload')]) {
    assert.equal(seen.version, '1.1', 'http2: off: the request went over HTTP/1.1');
    assert.equal(seen.sha256, sha256);
    assert.deepEqual(seen.trailers, kept);
  }
});

test('a request with a body and no trailers still ends normally over HTTP/2', async () => {
  const s = session();
  try {
    const seen = await new Promise<Seen>((resolve, reject) => {
      const req = s.request({ ':method': 'POST', ':path': '/plain' });
      let text = '';
      req.on('data', (d: Buffer) => { text += d; });
      req.on('end', () => resolve(JSON.parse(text)));
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(seen.version, '2.0');
    assert.equal(seen.sha256, sha256);
    assert.deepEqual(seen.trailers, []);
  } finally { s.close(); }
});

/** GETs `path` over HTTP/1.1; the answer's body and trailers (raw). */
function getOverH1(path: string, headers: Record<string, string>): Promise<{ status: number; body: string; trailers: string[] }> {
  return new Promise((resolve, reject) => {
    const f = (n: string) => readFileSync(pki.file(n));
    const req = httpsRequest({
      host: '127.0.0.1', port: proxy.port, servername: 'localhost', path, agent: false,
      ca: f('edge-ca.crt'), cert: f('alice.crt'), key: f('alice.key'), headers: { host: 'localhost', connection: 'close', ...headers },
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, trailers: res.rawTrailers.map((x, i) => (i % 2 ? x : x.toLowerCase())) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('an HTTP/2 upstream\'s answer trailers reach an HTTP/1.1 client that sent TE: trailers, and not one that did not', async () => {
  const asked = await getOverH1('/on/answer-trailers', { te: 'trailers' });
  assert.equal(asked.status, 200);
  assert.equal(asked.body, 'the answer');
  assert.deepEqual(asked.trailers, ['x-answer-checksum', 'c0ffee', 'x-answer-note', 'done']);
  const plain = await getOverH1('/on/answer-trailers', {});
  assert.equal(plain.status, 200);
  assert.equal(plain.body, 'the answer');
  assert.deepEqual(plain.trailers, []);
});

test('an HTTP/2 upstream\'s answer trailers reach an HTTP/2 client', async () => {
  const s = session();
  try {
    const r = await new Promise<{ body: string; trailers: Record<string, unknown> }>((resolve, reject) => {
      const req = s.request({ ':path': '/answer-trailers', te: 'trailers' });
      let text = '';
      let trailers: Record<string, unknown> = {};
      req.on('data', (d: Buffer) => { text += d; });
      req.on('trailers', (t) => { trailers = t; });
      req.on('end', () => resolve({ body: text, trailers }));
      req.on('error', reject);
      req.end();
    });
    assert.equal(r.body, 'the answer');
    assert.equal(r.trailers['x-answer-checksum'], 'c0ffee');
    assert.equal(r.trailers['x-answer-note'], 'done');
  } finally { s.close(); }
});
