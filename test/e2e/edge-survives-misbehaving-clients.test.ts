/**
 * Misbehaving clients never affect the others: plain HTTP or garbage instead
 * of TLS, a client that disconnects in the middle of its handshake, one that
 * never finishes it, a slowloris that drips header lines (408 after
 * `timeouts.request`), an upload slower than that in total (served) or stalled
 * (cut), and headers beyond `limits.maxHeaderSize` (431, over
 * HTTP/1.1 and HTTP/2). Each gets one clear log line, and a good request right
 * afterwards is served.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { identityOfFile, logsSince, readUntilClose, tcpClient, tlsClient } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  const config = baseConfig(pki.dir, backend.port, { mode: 'http' }, { handshakeTimeout: '1s' }) as Record<string, unknown>;
  config.timeouts = { request: '1s' };
  config.limits = { maxHeaderSize: 8192 };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

async function goodRequestStillServed() {
  const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/after`));
  assert.equal(r.status, 200, 'a good request right afterwards is served');
  assert.equal(JSON.parse(r.body).identity, identityOfFile(pki.dir, 'alice'));
}

/** the one new log line with an outcome (waiting for it), checking there is exactly one */
async function oneLine(mark: number, pred: (l: Record<string, unknown>) => boolean) {
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && pred(l));
  const lines = (await logsSince(proxy, mark)).filter((l) => l.reason !== undefined);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  return line;
}

test('plain HTTP sent to the TLS port: closed, one line', async () => {
  const mark = proxy.logs.length;
  const s = await tcpClient(proxy.port);
  const done = readUntilClose(s);
  s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.equal((await done).data, '');
  const line = await oneLine(mark, (l) => l.outcome === 'handshake-failed');
  // the listener reads the ClientHello itself (ALPN decision, PROXY/starttls preambles)
  assert.equal(line.reason, 'ERR_CLIENT_HELLO_MALFORMED');
  assert.match(String(line.detail), /plain text or another protocol/);
  await goodRequestStillServed();
});

test('random bytes instead of a ClientHello: closed, one line', async () => {
  const mark = proxy.logs.length;
  const s = await tcpClient(proxy.port);
  const done = readUntilClose(s);
  s.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), randomBytes(64)]));
  await done;
  const line = await oneLine(mark, (l) => l.outcome === 'handshake-failed');
  assert.match(String(line.reason), /^ERR_(SSL_|CLIENT_HELLO_MALFORMED)/);
  await goodRequestStillServed();
});

test('a client that disconnects in the middle of its handshake: one line, at once', async () => {
  const mark = proxy.logs.length;
  const s = await tcpClient(proxy.port);
  // the first bytes of a ClientHello, then the client goes away
  s.end(Buffer.from('16030100c8010000c40303', 'hex'));
  const line = await oneLine(mark, (l) => l.outcome === 'handshake-failed');
  assert.equal(line.reason, 'ERR_CLIENT_HELLO_TRUNCATED', 'a disconnect, not a handshake timeout');
  await goodRequestStillServed();
});

test('a client that never finishes its handshake is dropped after edge.handshakeTimeout', async () => {
  const mark = proxy.logs.length;
  const s = await tcpClient(proxy.port);
  const done = readUntilClose(s);
  s.write(Buffer.from('16030100c8010000c40303', 'hex'));
  await done;
  const line = await oneLine(mark, (l) => l.outcome === 'handshake-failed');
  assert.equal(line.reason, 'ERR_CLIENT_HELLO_TIMEOUT');
  await goodRequestStillServed();
});

test('slowloris: header lines dripped slowly get 408 after timeouts.request, one line', async () => {
  const mark = proxy.logs.length;
  const s = await tlsClient(proxy.port, pki.dir, 'bob');
  const done = readUntilClose(s);
  s.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n');
  const drip = setInterval(() => { if (!s.destroyed) s.write(`X-Drip-${Date.now()}: 1\r\n`); }, 200);
  const r = await done;
  clearInterval(drip);
  assert.match(r.data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  const line = await oneLine(mark, (l) => l.outcome === 'bad-request');
  assert.equal(line.reason, 'ERR_HTTP_REQUEST_TIMEOUT');
  assert.equal(line.identity, identityOfFile(pki.dir, 'bob'));
  assert.ok(!backend.requests.some((q) => q.url === '/slow'), 'nothing reached the backend');
  await goodRequestStillServed();
});

test('an upload slower in total than timeouts.request, but never pausing that long, goes through', async () => {
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  const done = readUntilClose(s);
  const chunk = randomBytes(1000);
  s.write(`POST /slow-upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${8 * chunk.length}\r\nConnection: close\r\n\r\n`);
  for (let i = 0; i < 8; i++) { s.write(chunk); await new Promise((r) => setTimeout(r, 300)); } // 2.4 s against a 1 s limit
  const r = await done;
  assert.match(r.data, /^HTTP\/1\.1 200 /, r.data.slice(0, 200));
  assert.equal(backend.requests.find((q) => q.url === '/slow-upload')?.bodyBytes, 8000, 'the whole body arrived');
});

test('a request body that stalls longer than timeouts.request is cut, one line, and the proxy goes on', async () => {
  const mark = proxy.logs.length;
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { ALPNProtocols: ['http/1.1'] });
  const done = readUntilClose(s);
  s.write('POST /stalled HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n');
  s.write(randomBytes(1000));
  const cut = await Promise.race([done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
  if (!cut) s.destroy();
  assert.ok(cut, 'closed after the stall, not left open');
  // its line may come after the client saw the close: waited for here, so it never lands in the next case's window
  const line = await oneLine(mark, (l) => l.msg === 'request' && l.path === '/stalled');
  // the proxy ended it, as nginx's client_body_timeout does: 408, not the 499 of a client that left
  assert.equal(line.status, 408, JSON.stringify(line));
  assert.equal(line.outcome, 'client-timeout');
  assert.match((await done).data, /^HTTP\/1\.1 408 /);
  await goodRequestStillServed();
});

for (const version of ['--http1.1', '--http2']) {
  test(`headers beyond limits.maxHeaderSize get 431 (${version.slice(2)}), one line`, async () => {
    const mark = proxy.logs.length;
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/big?${version}`, [version, '-H', `X-Big: ${'a'.repeat(12_000)}`]));
    assert.equal(r.status, 431);
    const line = await oneLine(mark, (l) => l.outcome === 'bad-request');
    assert.match(String(line.reason), /HEADER_OVERFLOW|maxHeaderSize/);
    assert.ok(!backend.requests.some((q) => q.url.startsWith('/big')), 'nothing reached the backend');
    await goodRequestStillServed();
  });
}
