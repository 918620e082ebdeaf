/**
 * A request whose reused upstream connection closes under it is sent again on
 * a new connection only when that cannot run it twice: an idempotent method
 * (RFC 9110 §9.2.2) with no body, and no byte of an answer received. A POST
 * or PATCH the server received and dropped, or a GET whose answer had begun,
 * reaches the backend once and gets 502. Over HTTP/1.1 and HTTP/2 clients.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
/** paths that have been dropped once already (the second arrival is answered) */
const droppedOnce = new Set<string>();

before(async () => {
  pki = await makePki();
  const drop = (req: import('node:http').IncomingMessage) => (req.socket as TLSSocket).destroy();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: {
      // the server takes the request and closes without a byte of answer, every time
      '/drop': (req) => drop(req),
      // the first arrival is dropped without an answer, the next one answered
      '/drop-once': (req, res) => {
        if (droppedOnce.has(req.url!)) { res.end('second time\n'); return; }
        droppedOnce.add(req.url!);
        drop(req);
      },
      // an answer begins, then the connection closes
      '/partial': (req) => { (req.socket as TLSSocket).end('HTTP/1.1 200 OK\r\n'); },
    },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const arrivals = (path: string, method: string) => backend.requests.filter((r) => r.url === path && r.method === method).length;

/** HTTP/1.1 on one client connection: a GET that warms an upstream connection, then `method path` on it. */
async function h1(method: string, path: string): Promise<number> {
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  try {
    let data = '';
    s.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    s.write('GET /warm HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(() => /\r\n\r\n[^]*\n$/.test(data), 'the warm-up answer');
    data = '';
    s.write(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    await waitFor(() => /^HTTP\/1\.1 \d{3} /.test(data) || s.destroyed, `an answer to ${method} ${path}`);
    return Number(data.split(' ')[1]);
  } finally {
    s.destroy();
  }
}

/** HTTP/2 on one client session: a GET that warms an upstream connection, then `method path`. */
async function h2(method: string, path: string): Promise<number> {
  const client = h2connect(`https://localhost:${proxy.port}`, {
    ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`),
  });
  const ask = (m: string, p: string) => new Promise<number>((resolve, reject) => {
    const req = client.request({ ':method': m, ':path': p });
    req.on('response', (h) => { req.resume(); req.on('end', () => resolve(Number(h[':status']))); });
    req.on('error', reject);
    req.end();
  });
  try {
    assert.equal(await ask('GET', '/warm'), 200);
    return await ask(method, path);
  } finally {
    client.close();
  }
}

for (const [name, ask] of [['HTTP/1.1', h1], ['HTTP/2', h2]] as const) {
  const tag = name === 'HTTP/1.1' ? 'h1' : 'h2';

  test(`${name}: a POST and a PATCH the server dropped reach it once and get 502`, async () => {
    for (const method of ['POST', 'PATCH']) {
      const path = `/drop/${tag}-${method}`;
      assert.equal(await ask(method, path), 502, method);
      assert.equal(arrivals(path, method), 1, `${method} reached the backend ${arrivals(path, method)} times`);
    }
  });

  test(`${name}: a GET whose answer had begun is not sent again`, async () => {
    const path = `/partial/${tag}`;
    assert.equal(await ask('GET', path), 502);
    assert.equal(arrivals(path, 'GET'), 1);
  });

  test(`${name}: a GET and a DELETE dropped before any answer are sent once more, on a new connection`, async () => {
    for (const method of ['GET', 'DELETE']) {
      const path = `/drop-once/${tag}-${method}`;
      assert.equal(await ask(method, path), 200, method);
      assert.equal(arrivals(path, method), 2);
    }
  });
}
