/**
 * Property tests of the HTTP/1.1 relay (fast-check), over real TLS to a real
 * backend: random request heads and bodies (Content-Length or chunked, written
 * in random pieces) arrive with their body byte for byte and the expected head
 * (end-to-end fields as sent, hop-by-hop and identity fields gone, Host and
 * X-Forwarded-* set); the backend's answer (Content-Length, chunked or
 * close-delimited, random bytes) reaches the client byte for byte; and a
 * randomly corrupted request is refused with nothing reaching the backend
 * whenever Node's own parser refuses it.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';
import { createParser } from '../../src/forward/http/h1-parser.js';
import { IDENTITY_HEADER_NAMES } from '../../src/forward/index.js';
import { isForwardingHeader } from '../../src/forward/forwarded-headers.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    readBody: false,
    routes: {
      // answers with the bytes named by x-answer (hex) in the framing x-framing asks for
      '/answer': (req, res) => {
        req.resume();
        req.on('end', () => {
          const body = Buffer.from(String(req.headers['x-answer'] ?? ''), 'hex');
          const framing = req.headers['x-framing'];
          if (framing === 'length') res.writeHead(200, { 'content-length': body.length });
          else if (framing === 'close') { res.writeHead(200, { connection: 'close' }); res.useChunkedEncodingByDefault = false; }
          else res.writeHead(200, { 'x-framing': 'chunked' });
          // written in two pieces so a chunked answer has more than one chunk
          res.write(body.subarray(0, body.length >> 1));
          res.end(body.subarray(body.length >> 1));
        });
      },
    },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, {
    ...baseConfig(pki.dir, backend.port, { mode: 'http' }),
    timeouts: { request: '5s' },
  }));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const END = 'GET /__end HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade'];
const TCHAR = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-.^_`|~';

/** Sends pieces one by one, waits for the proxy to close; returns all bytes received. */
async function exchange(pieces: Buffer[]): Promise<Buffer> {
  const s = await tlsClient(proxy.port, pki.dir, 'alice');
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const guard = setTimeout(() => s.destroy(), 30_000);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {});
    s.once('close', () => { clearTimeout(guard); resolve(Buffer.concat(got)); });
    (async () => {
      for (const p of pieces) {
        if (s.destroyed) return;
        if (!s.write(p)) await new Promise((r) => s.once('drain', r));
        // lets the proxy read each piece on its own
        await new Promise((r) => setImmediate(r));
      }
    })();
  });
}

interface Response { status: number; headers: string[]; body: Buffer }

/** Responses in `data`, parsed by Node's parser. */
function parseResponses(data: Buffer): Response[] {
  const out: Response[] = [];
  let cur: Response | undefined;
  const p = createParser('response', 1 << 20, {
    messageBegin() {},
    headersComplete(_a, _b, headers, _m, _u, status) { cur = { status: status ?? 0, headers, body: Buffer.alloc(0) }; return 0; },
    body(c) { cur!.body = Buffer.concat([cur!.body, c]); },
    messageComplete() { if (cur && cur.status >= 200) out.push(cur); cur = undefined; },
  });
  p.execute(data);
  p.finish();
  return out;
}

/** Splits `b` at the given fractions. */
function split(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * b.length)))].filter((n) => n > 0 && n < b.length).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const n of at) { out.push(b.subarray(from, n)); from = n; }
  out.push(b.subarray(from));
  return out;
}

const headerName = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 20 })
  .filter((n) => !/^(host|content-length|transfer-encoding|expect|x-answer|x-framing)$/i.test(n))
  // the forwarding headers (X-Forwarded-*, Forwarded, X-Real-IP, …) and X-Remote-* are the proxy's to set or drop
  .filter((n) => !isForwardingHeader(n) && !n.toLowerCase().replaceAll('_', '-').startsWith('x-remote-'))
  // the backend reads Node's req.headers, a plain object, where a field named __proto__ cannot be stored
  .filter((n) => n.toLowerCase() !== '__proto__');
// field-content: visible ASCII and obs-text, inner spaces and tabs, nothing at either end
const headerValue = fc.string({ unit: fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constantFrom(0x20, 0x09)).map((c) => String.fromCharCode(c)), maxLength: 40 })
  .map((v) => v.replace(/^[ \t]+|[ \t]+$/g, ''));
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
  path: fc.array(fc.string({ unit: fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,=:@'), minLength: 1, maxLength: 8 }).filter((s) => s !== '.' && s !== '..'), { maxLength: 4 }),
  query: fc.option(fc.string({ unit: fc.constantFrom(...'abc=&%20'), maxLength: 10 }), { nil: undefined }),
  headers: fc.uniqueArray(fc.tuple(headerName, headerValue), { maxLength: 20, selector: ([n]) => n.toLowerCase() }),
  hop: fc.subarray(HOP),
  identity: fc.subarray(['x-tls-client-cert', 'client-cert', 'x-forwarded-client-cert', 'X_SSL_Client_Cert']),
  xff: fc.option(fc.constantFrom('203.0.113.7', '198.51.100.1, 203.0.113.9'), { nil: undefined }),
  body: fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ minLength: 60_000, maxLength: 200_000 })),
  framing: fc.constantFrom('length', 'chunked'),
  chunks: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
  writes: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
});

type Req = typeof request extends fc.Arbitrary<infer T> ? T : never;

function build(r: Req): Buffer {
  const lines = [`${r.method} /${r.path.join('/')}${r.query !== undefined ? `?${r.query}` : ''} HTTP/1.1`, 'Host: localhost'];
  for (const [n, v] of r.headers) lines.push(`${n}: ${v}`);
  for (const h of r.hop) lines.push(`${h}: ${h === 'connection' ? 'keep-alive, X-Listed' : 'hop'}`);
  if (r.hop.includes('connection')) lines.push('X-Listed: listed in Connection');
  for (const h of r.identity) lines.push(`${h}: forged`);
  if (r.xff) lines.push(`X-Forwarded-For: ${r.xff}`);
  const body = Buffer.from(r.body);
  let framed: Buffer;
  if (r.framing === 'length') { lines.push(`Content-Length: ${body.length}`); framed = body; }
  else {
    lines.push('Transfer-Encoding: chunked');
    const parts = split(body, r.chunks).filter((p) => p.length > 0);
    framed = Buffer.concat([...parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), framed]);
}

test('random requests arrive with the same body and the expected head', async () => {
  await fc.assert(fc.asyncProperty(request, async (r) => {
    const mark = backend.requests.length;
    const bytes = build(r);
    const data = await exchange(split(Buffer.concat([bytes, Buffer.from(END)]), r.writes));
    const responses = parseResponses(data);
    assert.deepEqual(responses.map((x) => x.status), [200, 200], data.toString('latin1').slice(0, 300));
    const seen = backend.requests.slice(mark).filter((x) => x.url !== '/__end');
    assert.equal(seen.length, 1);
    const got = seen[0];
    assert.equal(got.method, r.method);
    assert.equal(got.url, `/${r.path.join('/')}${r.query !== undefined ? `?${r.query}` : ''}`);
    assert.equal(got.bodyBytes, r.body.length);
    assert.equal(got.bodySha256, createHash('sha256').update(r.body).digest('hex'));
    const h = got.headers;
    for (const [n, v] of r.headers) {
      const lower = n.toLowerCase();
      if (IDENTITY_HEADER_NAMES.includes(lower.replaceAll('_', '-'))) { assert.equal(h[lower], undefined, `${n} is an identity header`); continue; }
      // the backend's Node trims nothing more than what was sent; obs-text stays latin1
      assert.equal(h[lower], v, `${n} arrives as sent`);
    }
    for (const gone of [...HOP, 'x-listed', 'x-tls-client-cert', 'client-cert', 'x-forwarded-client-cert', 'x-ssl-client-cert', 'x_ssl_client_cert']) {
      if (gone === 'connection') continue; // the backend's Node reports its own connection header as sent by the relay
      assert.equal(h[gone], undefined, `${gone} must not arrive`);
    }
    assert.equal(h.host, 'localhost');
    // a client's X-Forwarded-For is dropped: the address is the one the proxy saw
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'localhost');
    if (r.framing === 'length') assert.equal(h['content-length'], String(r.body.length));
    else assert.equal(h['transfer-encoding'], 'chunked');
  }), { numRuns: 60 });
});

test('random answers reach the client byte for byte, whatever their framing', async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4000 }), fc.constantFrom('length', 'chunked', 'close'), fc.constantFrom('HTTP/1.1', 'HTTP/1.0'), async (body, framing, version) => {
    const hex = Buffer.from(body).toString('hex');
    const req = `GET /answer HTTP/${version.slice(5)}\r\nHost: localhost\r\nX-Answer: ${hex}\r\nX-Framing: ${framing}\r\nConnection: close\r\n\r\n`;
    const data = await exchange([Buffer.from(req)]);
    const responses = parseResponses(data);
    assert.equal(responses.length, 1, data.toString('latin1').slice(0, 300));
    assert.equal(responses[0].status, 200);
    assert.ok(responses[0].body.equals(Buffer.from(body)), `body of ${body.length} bytes (${framing}, ${version})`);
  }), { numRuns: 40 });
});

test('a corrupted request that Node\'s parser refuses is refused, and the backend receives nothing', async () => {
  const corrupt = fc.record({
    r: request.map((r) => ({ ...r, body: r.body.subarray(0, 300) })),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    byte: fc.oneof(fc.constantFrom(0x00, 0x0a, 0x0d, 0x20, 0x3a, 0x7f, 0x09, 0x2c, 0x3b), fc.integer({ min: 0, max: 255 })),
    mode: fc.constantFrom('replace', 'insert'),
  });
  let refused = 0;
  await fc.assert(fc.asyncProperty(corrupt, async ({ r, at, byte, mode }) => {
    const good = build(r);
    const i = Math.floor(at * good.length);
    const bad = mode === 'replace'
      ? Buffer.concat([good.subarray(0, i), Buffer.from([byte]), good.subarray(i + 1)])
      : Buffer.concat([good.subarray(0, i), Buffer.from([byte]), good.subarray(i)]);
    // Node's parser's verdict on the corrupted request alone
    let complete = 0;
    const p = createParser('request', 16_384, { messageBegin() {}, headersComplete() { return 0; }, body() {}, messageComplete() { complete++; } });
    const verdict = p.execute(bad);
    // still a request to Node (then not this property's business), or incomplete (a length grew: it would wait for more)
    if (complete > 0 || typeof verdict === 'number') return;
    refused++;
    const mark = backend.requests.length;
    const data = await exchange([Buffer.concat([bad, Buffer.from(END)])]);
    const statuses = parseResponses(data).map((x) => x.status);
    assert.ok(statuses.length === 1 && (statuses[0] === 400 || statuses[0] === 431), `refused with 400/431, got ${JSON.stringify(statuses)} for ${JSON.stringify(bad.toString('latin1').slice(0, 200))} (${verdict.code})`);
    assert.deepEqual(backend.requests.slice(mark).map((x) => x.url), [], 'the backend receives nothing');
  }), { numRuns: 150 });
  assert.ok(refused > 10, `enough corrupted requests were refused by Node's parser to mean something (${refused})`);
});
