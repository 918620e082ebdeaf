/**
 * Http mode streams bodies instead of buffering them: a several-MB POST arrives
 * intact (curl, HTTP/1.1 and HTTP/2); a request body's first part reaches the
 * backend while the client still holds back the rest; a response's first part
 * reaches the client while the backend still holds back the rest. The last two
 * are lock-steps: a proxy that buffered would deadlock them.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as http2Connect } from 'node:http2';
import type { ServerResponse } from 'node:http';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { deferred, withTimeout } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

/** one-shot signals between the backend and the test */
const signal = <T = void>() => { const d = deferred<T>(); return { fire: d.resolve, fired: d.promise }; };
let requestFirstPart = signal<string>();
let responseHeld = signal<ServerResponse>();

/** fails instead of hanging when a lock-step deadlocks (buffered?) */
const within = <T>(p: Promise<T>, what: string) => withTimeout(p, `${what} (buffered?)`);

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    readBody: false,
    routes: {
      // tells the test as soon as the first bytes of the body arrive, then answers with the whole body
      '/upload-lockstep': (req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => { if (!body) requestFirstPart.fire(d.toString()); body += d; });
        req.on('end', () => res.end(`got ${body}`));
      },
      // sends the first part, then lets the test decide when the rest comes
      '/download-lockstep': (req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part;');
        responseHeld.fire(res);
      },
    },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const tlsOptions = () => ({ ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/alice.crt`), key: readFileSync(`${pki.dir}/alice.key`) });

for (const version of ['--http1.1', '--http2']) {
  test(`a 6 MB POST arrives intact (${version.slice(2)})`, async () => {
    const body = randomBytes(6 * 1024 * 1024);
    const file = `${pki.dir}/upload-${version.slice(2)}.bin`;
    await writeFile(file, body);
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/upload`, [version, '--data-binary', `@${file}`, '-H', 'content-type: application/octet-stream']));
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body);
    assert.equal(seen.bodyBytes, body.length);
    assert.equal(seen.bodySha256, createHash('sha256').update(body).digest('hex'));
  });
}

test('HTTP/1.1: the request body is streamed to the backend', async () => {
  requestFirstPart = signal<string>();
  const req = httpsRequest({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', path: '/upload-lockstep', method: 'POST', ...tlsOptions(), headers: { 'transfer-encoding': 'chunked' } });
  const answer = new Promise<string>((resolve, reject) => {
    req.on('response', (res) => { let s = ''; res.on('data', (d) => { s += d; }); res.on('end', () => resolve(s)); });
    req.on('error', reject);
  });
  req.write('first;');
  assert.equal(await within(requestFirstPart.fired, 'first part of the request at the backend'), 'first;');
  req.end('second');
  assert.equal(await within(answer, 'answer'), 'got first;second');
});

test('HTTP/2: the request body is streamed to the backend', async () => {
  requestFirstPart = signal<string>();
  const session = http2Connect(`https://localhost:${proxy.port}`, tlsOptions());
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/upload-lockstep' });
    let s = '';
    stream.on('data', (d) => { s += d; });
    const ended = new Promise<void>((r) => stream.on('end', () => r()));
    stream.write('first;');
    assert.equal(await within(requestFirstPart.fired, 'first part of the request at the backend'), 'first;');
    stream.end('second');
    await within(ended, 'answer');
    assert.equal(s, 'got first;second');
  } finally {
    session.close();
  }
});

test('HTTP/1.1: the response is streamed to the client', async () => {
  responseHeld = signal<ServerResponse>();
  const req = httpsRequest({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', path: '/download-lockstep', ...tlsOptions() });
  req.end();
  const res = await within(new Promise<import('node:http').IncomingMessage>((r, j) => { req.on('response', r); req.on('error', j); }), 'response headers');
  assert.equal(res.statusCode, 200);
  const first = await within(new Promise<string>((r) => res.once('data', (d) => r(String(d)))), 'first part at the client');
  assert.equal(first, 'first part;');
  let rest = '';
  res.on('data', (d) => { rest += d; });
  const ended = new Promise<void>((r) => res.on('end', () => r()));
  (await responseHeld.fired).end('second part');
  await within(ended, 'end of the response');
  assert.equal(rest, 'second part');
});

test('HTTP/2: the response is streamed to the client', async () => {
  responseHeld = signal<ServerResponse>();
  const session = http2Connect(`https://localhost:${proxy.port}`, tlsOptions());
  try {
    const stream = session.request({ ':path': '/download-lockstep' });
    stream.end();
    const first = await within(new Promise<string>((r) => stream.once('data', (d) => r(String(d)))), 'first part at the client');
    assert.equal(first, 'first part;');
    let rest = '';
    stream.on('data', (d) => { rest += d; });
    const ended = new Promise<void>((r) => stream.on('end', () => r()));
    (await responseHeld.fired).end('second part');
    await within(ended, 'end of the response');
    assert.equal(rest, 'second part');
  } finally {
    session.close();
  }
});
