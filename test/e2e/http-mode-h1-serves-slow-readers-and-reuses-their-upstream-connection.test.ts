/**
 * With the relay (http.http1: relay), a client that reads a large answer slowly
 * gets it whole (the upstream connection is paused while the client's socket is
 * full and resumed on drain), and the upstream connection it used serves the
 * next requests of the same identity (a connection released while paused must
 * read again, or the next answer on it would never be read).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';
import { createParser } from '../../src/forward/http/h1-parser.js';
import type { TLSSocket } from 'node:tls';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;
const big = randomBytes(3 * 1024 * 1024 + 17);

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    routes: {
      '/big': (_req, res) => {
        res.writeHead(200, { 'content-length': big.length });
        // in uneven pieces, so the last one may fill the client's socket
        for (let i = 0; i < big.length; i += 50_000) res.write(big.subarray(i, i + 50_000));
        res.end();
      },
    },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

/** Sends one request on `s` and reads its answer, slowly when `slow` (one chunk per event-loop turn). */
function request(s: TLSSocket, path: string, slow: boolean): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let status = 0;
    const p = createParser('response', 65_536, {
      messageBegin() {},
      headersComplete(_a, _b, _h, _m, _u, st) { status = st ?? 0; return 0; },
      body(c) { parts.push(Buffer.from(c)); },
      messageComplete() { s.removeListener('data', onData); s.removeListener('close', onClose); resolve({ status, body: Buffer.concat(parts) }); },
    });
    const onData = (d: Buffer) => {
      const r = p.execute(d);
      if (typeof r !== 'number') reject(r);
      if (slow) { s.pause(); setImmediate(() => s.resume()); }
    };
    const onClose = () => reject(new Error(`closed before the answer to ${path} was complete`));
    s.on('data', onData);
    s.once('close', onClose);
    s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

test('slow readers get large answers whole, and the upstream connections serve the next requests', async () => {
  const want = createHash('sha256').update(big).digest('hex');
  for (let round = 0; round < 4; round++) {
    const s = await tlsClient(proxy.port, pki.dir, 'alice');
    const r = await request(s, '/big', true);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, big.length);
    assert.equal(createHash('sha256').update(r.body).digest('hex'), want, `round ${round}: the body arrives byte for byte`);
    // the same client connection, then a new one: both reach the backend through the released upstream connections
    const again = await request(s, '/echo', false);
    assert.equal(again.status, 200);
    s.destroy();
    const s2 = await tlsClient(proxy.port, pki.dir, 'alice');
    const other = await request(s2, '/echo', false);
    assert.equal(other.status, 200);
    s2.destroy();
  }
});

test('clients that hang up right after their request leave the upstream connections usable', async () => {
  for (let round = 0; round < 30; round++) {
    const quitter = await tlsClient(proxy.port, pki.dir, 'alice');
    quitter.on('error', () => {});
    const closed = new Promise((r) => quitter.once('close', r));
    quitter.write('GET /echo HTTP/1.0\r\nHost: localhost\r\n\r\n');
    quitter.end(); // the answer is written to a socket that is already ending
    await closed;
    const s = await tlsClient(proxy.port, pki.dir, 'alice');
    const r = await request(s, `/echo?round=${round}`, false);
    assert.equal(r.status, 200, `round ${round}`);
    s.destroy();
  }
});
