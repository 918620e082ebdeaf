/**
 * HTTP/1.1 smuggling corpus: request shapes a proxy and a backend may read
 * differently (Content-Length with Transfer-Encoding, duplicate and
 * conflicting lengths, obs-fold, bad chunks, bare CR/LF, spaces before
 * colons, bad characters, request-target forms, oversized heads, odd
 * versions, pipelining, Expect, CONNECT, Upgrade) sent raw over TLS to http
 * mode, with a real backend, and to a bare Node http server (Node's own
 * parser, the reference). For every case: http mode answers with the
 * statuses listed (its own rules on top of Node's: normalized targets,
 * one Host, CONNECT 405, …), it never forwards a request bare Node would not
 * have accepted, and when it refuses nothing it forwards exactly what bare
 * Node accepted.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
let bare: Server;
const bareSeen: string[] = [];

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  proxy = await startProxyProcess(await writeConfig(pki.dir, {
    ...baseConfig(pki.dir, backend.port, { mode: 'http' }),
    // a body that never comes is cut after this, so no case hangs
    timeouts: { request: '3s' },
  }));
  // Node's own server, same limits: the reference verdict of its parser
  bare = createServer({ maxHeaderSize: 16_384 }, (req, res) => {
    bareSeen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
});
after(async () => {
  await proxy?.stop();
  await backend?.close();
  bare?.close();
  bare?.closeAllConnections();
});

const END = 'GET /__end HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
const H = 'Host: localhost\r\n';
const big = 'a'.repeat(20_000);
const manyHeaders = Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('');

/**
 * [name, raw bytes (latin1; END is appended), the statuses http mode answers].
 * Statuses are the status lines at the start of the data or after a CRLF (an
 * answer after a JSON body ending in a bare LF is not counted).
 */
const CORPUS: [string, string, number[]][] = [
  ['plain GET', `GET /a HTTP/1.1\r\n${H}\r\n`, [200]],
  ['POST with Content-Length', `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`, [200]],
  ['POST chunked', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, [200]],
  ['chunked with extension', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n`, [200]],
  ['chunked with trailer', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n`, [200]],
  ['CL.TE smuggle', `POST /a HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, [400]],
  ['TE.CL smuggle', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST /b HTTP/1.1\r\n\r\n0\r\n\r\n`, [400]],
  ['duplicate equal Content-Length', `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, [400]],
  ['conflicting Content-Length', `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, [400]],
  ['Content-Length list', `POST /a HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, [400]],
  ['Content-Length with plus', `POST /a HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, [400]],
  ['Content-Length negative', `POST /a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, [400]],
  ['Content-Length hex', `POST /a HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, [400]],
  ['Content-Length huge', `POST /a HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`, [400]],
  ['Transfer-Encoding not chunked', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, [400]],
  ['Transfer-Encoding chunked then gzip', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, [400]],
  ['Transfer-Encoding xchunked', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, [400]],
  ['Transfer-Encoding twice', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, [400]],
  ['Transfer-Encoding obs-fold', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, [400]],
  ['obs-fold in a header', `GET /a HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`, [400]],
  ['space before colon', `GET /a HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, [400]],
  ['space before colon in Transfer-Encoding', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, [400]],
  ['tab in header name', `GET /a HTTP/1.1\r\n${H}X\tA: b\r\n\r\n`, [400]],
  ['control char in header name', `GET /a HTTP/1.1\r\n${H}X\x01A: b\r\n\r\n`, [400]],
  ['NUL in header value', `GET /a HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, [400]],
  ['DEL in header value', `GET /a HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, [400]],
  ['obs-text in header value', `GET /a HTTP/1.1\r\n${H}X-A: caf\xe9\r\n\r\n`, [200]],
  ['empty header name', `GET /a HTTP/1.1\r\n${H}: b\r\n\r\n`, [400]],
  ['bare LF line ends', `GET /a HTTP/1.1\n${H.replace('\r\n', '\n')}\n`, [400]],
  ['bare CR in request line', `GET /a HTTP/1.1\rHost: localhost\r\n\r\n`, [400]],
  ['bare CR in header value', `GET /a HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, [400]],
  ['bare LF after header', `GET /a HTTP/1.1\r\n${H}X-A: b\n\r\n`, [400]],
  ['bad chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, [400]],
  ['chunk size overflow', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n`, [400]],
  ['negative chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n`, [400]],
  ['space after chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`, [400]],
  ['bare LF after chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, [400]],
  ['chunk data not followed by CRLF', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n`, [400]],
  ['bad character in chunk extension', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\x00=b\r\nhello\r\n0\r\n\r\n`, [400]],
  ['quoted chunk extension', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a="b c"\r\nhello\r\n0\r\n\r\n`, [200]],
  ['absolute-form target', `GET http://localhost/a HTTP/1.1\r\n${H}\r\n`, [400]],
  ['asterisk-form OPTIONS', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, [400]],
  ['asterisk-form GET', `GET * HTTP/1.1\r\n${H}\r\n`, [400]],
  ['authority-form GET', `GET localhost:443 HTTP/1.1\r\n${H}\r\n`, [400]],
  ['CONNECT', `CONNECT localhost:443 HTTP/1.1\r\n${H}\r\n`, [405]],
  ['space in target', `GET /a b HTTP/1.1\r\n${H}\r\n`, [400]],
  ['dot segments', `GET /a/../b HTTP/1.1\r\n${H}\r\n`, [400]],
  ['encoded dot segments', `GET /a/%2e%2e/b HTTP/1.1\r\n${H}\r\n`, [400]],
  ['fragment in target', `GET /a#frag HTTP/1.1\r\n${H}\r\n`, [400]],
  ['DEL in target', `GET /a\x7f HTTP/1.1\r\n${H}\r\n`, [400]],
  ['oversized header value', `GET /a HTTP/1.1\r\n${H}X-Big: ${big}\r\n\r\n`, [431]],
  ['oversized target', `GET /${big} HTTP/1.1\r\n${H}\r\n`, [431]],
  ['too many header fields', `GET /a HTTP/1.1\r\n${H}${manyHeaders}\r\n`, [431]],
  ['HTTP/0.9', 'GET /a\r\n', [400]],
  ['HTTP/2.0 version', `GET /a HTTP/2.0\r\n${H}\r\n`, [400]],
  ['HTTP/1.2 version', `GET /a HTTP/1.2\r\n${H}\r\n`, [400]],
  ['HTTP/3.0 version', `GET /a HTTP/3.0\r\n${H}\r\n`, [400]],
  ['lower-case version', `GET /a http/1.1\r\n${H}\r\n`, [400]],
  ['HTTP/1.0 without Host', 'GET /a HTTP/1.0\r\n\r\n', [400]],
  ['HTTP/1.0 chunked', `POST /a HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, [400]],
  ['HTTP/1.1 without Host', 'GET /a HTTP/1.1\r\nX-A: b\r\n\r\n', [400]],
  ['duplicate Host', `GET /a HTTP/1.1\r\n${H}Host: other.example\r\n\r\n`, [400]],
  ['unknown method', `FOO /a HTTP/1.1\r\n${H}\r\n`, [400]],
  ['lower-case method', `get /a HTTP/1.1\r\n${H}\r\n`, [400]],
  ['double space in request line', `GET  /a HTTP/1.1\r\n${H}\r\n`, [200]],
  ['leading CRLF', `\r\nGET /a HTTP/1.1\r\n${H}\r\n`, [200]],
  ['pipelined GETs', `GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}\r\n`, [200]],
  ['pipelined after a body', `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /smuggled HTTP/1.1\r\n${H}\r\n`, [200]],
  ['pipelined then garbage', `GET /a HTTP/1.1\r\n${H}\r\nGARBAGE\r\n\r\n`, [400]],
  ['Expect: 100-continue', `POST /a HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello`, [200]],
  ['Expect: something else', `POST /a HTTP/1.1\r\n${H}Expect: teapot\r\nContent-Length: 5\r\n\r\nhello`, [417]],
  ['Upgrade without a WebSocket backend', `GET /a HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, [200]],
  ['Connection: close', `GET /a HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, [400]],
];

interface Outcome { statuses: number[]; forwarded: string[] }

/** Sends `raw` (+ END) and reads until the connection closes; returns the response status lines seen. */
async function sendRaw(write: (data: Buffer) => Promise<string>, raw: string): Promise<number[]> {
  const data = await write(Buffer.from(raw + END, 'latin1'));
  return [...data.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

function collect(s: import('node:net').Socket, data: Buffer): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    // a case that leaves a connection hanging is cut here (the proxies' own timeouts are 3 s)
    const guard = setTimeout(() => s.destroy(), 20_000);
    s.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    s.on('error', () => {});
    s.once('close', () => { clearTimeout(guard); resolve(out); });
    s.write(data);
  });
}

async function viaProxy(raw: string): Promise<Outcome> {
  const seen = backend.requests;
  const mark = seen.length;
  const s = await tlsClient(proxy.port, pki.dir, 'alice');
  const statuses = await sendRaw((d) => collect(s, d), raw);
  return { statuses, forwarded: seen.slice(mark).map((r) => `${r.method} ${r.url} ${r.bodyBytes}`) };
}

async function viaBare(raw: string): Promise<Outcome> {
  const mark = bareSeen.length;
  const s = netConnect({ host: '127.0.0.1', port: (bare.address() as AddressInfo).port });
  await new Promise((r) => s.once('connect', r));
  const statuses = await sendRaw((d) => collect(s, d), raw);
  return { statuses, forwarded: bareSeen.slice(mark) };
}

// one at a time: the backend's request list is shared
for (const [name, raw, statuses] of CORPUS) {
  test(`http mode ⊆ Node's parser: ${name}`, async () => {
    const [proxied, ref] = await Promise.all([viaProxy(raw), viaBare(raw)]);
    assert.deepEqual(proxied.statuses, statuses, `statuses (http mode ${JSON.stringify(proxied)}, bare Node ${JSON.stringify(ref)})`);
    // never forwarded what Node's own parser refused
    const bareTargets = ref.forwarded;
    for (const f of proxied.forwarded) assert.ok(bareTargets.includes(f.split(' ').slice(0, 2).join(' ')), `${f} forwarded though bare Node saw ${JSON.stringify(ref)}`);
    // refusing nothing, it forwards what Node accepted, each once
    if (statuses.every((st) => st < 400)) assert.deepEqual(proxied.forwarded.map((f) => f.split(' ').slice(0, 2).join(' ')), bareTargets, 'what the backend received');
  });
}
