/**
 * Upgrade corpus: the ways an HTTP/1.1 Upgrade is used to smuggle a request
 * past a proxy (h2c and WebSocket smuggling: bytes after the upgrade request
 * that the proxy treats as a tunnel, the backend as the next request), sent
 * raw over TLS to http mode in front of a real backend (Node https with a
 * WebSocket server). For every case: the statuses listed; bytes after an
 * upgrade request are the tunnel's and reach the backend only once it said
 * 101 — a refused upgrade closes the connection, so `/smuggled` never arrives;
 * an upgrade with a body or behind pipelined requests is refused; an upstream
 * 101 nobody asked for is a 502.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    websocket: true,
    routes: {
      // a server that switches protocols though nobody asked
      '/switch': (req) => { (req.socket as TLSSocket).write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: evil\r\n\r\n'); },
    },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, { ...baseConfig(pki.dir, backend.port, { mode: 'http' }), timeouts: { request: '3s' } }));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const H = 'Host: localhost\r\n';
const WS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const SMUGGLED = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;

/** [name, raw bytes, the statuses http mode answers] */
const CORPUS: [string, string, number[]][] = [
  ['WebSocket upgrade', `GET /chat HTTP/1.1\r\n${H}${WS}\r\n`, [101]],
  ['refused upgrade with a request behind it', `GET /forbidden/chat HTTP/1.1\r\n${H}${WS}\r\n${SMUGGLED}`, [403]],
  // (the backend's own answer: its WebSocket server refuses an Upgrade to h2c with 400)
  ['h2c upgrade to a server that does not switch, a request behind it', `GET /plain HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n${SMUGGLED}`, [400]],
  ['upgrade with a Content-Length body', `GET /chat HTTP/1.1\r\n${H}${WS}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, [400]],
  ['upgrade with a chunked body', `GET /chat HTTP/1.1\r\n${H}${WS}Transfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`, [400]],
  ['upgrade pipelined behind a request', `GET /first HTTP/1.1\r\n${H}\r\nGET /chat HTTP/1.1\r\n${H}${WS}\r\n${SMUGGLED}`, [200]],
  ['Connection: Upgrade without Upgrade', `GET /plain HTTP/1.1\r\n${H}Connection: Upgrade, close\r\n\r\n`, [200]],
  ['Upgrade without Connection: Upgrade', `GET /plain HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: close\r\n\r\n`, [200]],
  ['a 101 the request did not ask for', `GET /switch HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, [502]],
  ['CONNECT tunnel', `CONNECT localhost:443 HTTP/1.1\r\n${H}\r\n${SMUGGLED}`, [405]],
];

/** Sends `raw`, reads until the proxy closes (or, after a 101, a moment later); returns the status lines and the data. */
async function send(raw: string): Promise<{ statuses: number[]; data: string }> {
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  return new Promise((resolve) => {
    let data = '';
    const done = () => { clearTimeout(guard); s.destroy(); resolve({ statuses: [...data.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])), data }); };
    // a tunnel stays open: it is closed from here once its 101 is in
    const guard = setTimeout(done, 8000);
    s.on('data', (d: Buffer) => { data += d.toString('latin1'); if (/^HTTP\/1\.1 101 [^]*\r\n\r\n/.test(data)) setTimeout(done, 300); });
    s.on('error', () => {});
    s.once('close', done);
    s.write(raw, 'latin1');
  });
}

for (const [name, raw, statuses] of CORPUS) {
  test(`upgrade corpus: ${name}`, async () => {
    const mark = backend.requests.length;
    const upgrades = backend.wsClients.length;
    const r = await send(raw);
    assert.deepEqual(r.statuses, statuses, r.data.slice(0, 300));
    const seen = backend.requests.slice(mark).map((x) => x.url);
    assert.ok(!seen.includes('/smuggled'), `a request smuggled behind an upgrade reached the backend: ${JSON.stringify(seen)}`);
    assert.equal(backend.wsClients.length - upgrades, statuses[0] === 101 ? 1 : 0, 'upgrades the backend accepted');
    if (statuses[0] === 101) assert.match(r.data, /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*connection: upgrade\r\nupgrade: websocket\r\n/i);
  });
}

test('an Upgrade header that does not upgrade is not forwarded', async () => {
  const mark = backend.requests.length;
  await send(`GET /plain HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: close\r\n\r\n`);
  const seen = backend.requests.slice(mark);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers.upgrade, undefined);
});
