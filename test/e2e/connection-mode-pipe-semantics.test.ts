/**
 * Connection mode pipes a TLS stream faithfully:
 * - half-close: a client that shuts its write side still receives the rest of
 *   the reply (the backend answers only after it has seen the client's FIN);
 * - ALPN: the protocol the client chose is the one offered upstream, so the
 *   backend sees it (and none when the client offered none);
 * - idle timeout: a connection with no traffic for `timeouts.idle` is closed
 *   and logged.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { identityOfFile, readUntilClose, sClient, tlsClient } from '../helpers/e2e.js';

let pki: TestPki;
let backend: TlsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startTlsBackend({
    pkiDir: pki.dir,
    alpn: ['h2', 'http/1.1', 'x-custom'],
    onConnection: (c) => {
      c.socket.once('data', (d: Buffer) => {
        const what = d.toString().trim();
        if (what === 'alpn?') c.socket.end(`alpn=${c.alpn || 'none'}\n`);
        else if (what === 'idle') { /* say nothing */ }
        // half-close: answer only once the client has finished sending
        else c.ended.then(() => { c.socket.write('reply after your FIN: '); setImmediate(() => c.socket.end(`${c.received()} from ${c.identity}`)); });
      });
    },
  });
  const config = baseConfig(pki.dir, backend.port, { mode: 'connection' }) as { upstreams: { backend: Record<string, unknown> }; timeouts?: unknown };
  config.upstreams.backend.alpn = ['h2', 'http/1.1', 'x-custom'];
  config.timeouts = { idle: '2s' };
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

test('half-close: the client shuts its write side and still receives the whole reply', async () => {
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { allowHalfOpen: true } as object);
  const done = readUntilClose(s);
  s.write('part one, ');
  s.end('part two');
  const { data, error } = await done;
  assert.equal(error, undefined);
  assert.equal(data, `reply after your FIN: part one, part two from ${identityOfFile(pki.dir, 'alice')}`);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.identity === identityOfFile(pki.dir, 'alice') && l.outcome === 'closed');
  assert.ok(Number(line.bytesOut) > 0);
});

for (const alpn of ['http/1.1', 'h2', 'x-custom']) {
  test(`ALPN: the client chooses ${alpn}, the backend sees ${alpn}`, async () => {
    const r = await sClient(proxy.port, pki.dir, 'alice', { input: 'alpn?\n', args: ['-alpn', alpn] });
    assert.equal(r.stdout, `alpn=${alpn}\n`);
  });
}

test('ALPN: a client that offers none gets none upstream', async () => {
  const r = await sClient(proxy.port, pki.dir, 'alice', { input: 'alpn?\n' });
  assert.equal(r.stdout, 'alpn=none\n');
});

test('idle timeout: a silent connection is closed and logged', async () => {
  const s = await tlsClient(proxy.port, pki.dir, 'bob');
  const done = readUntilClose(s);
  s.write('idle');
  const { data } = await done;
  assert.equal(data, '', 'nothing came back; the proxy closed the connection');
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.identity === identityOfFile(pki.dir, 'bob'));
  assert.equal(line.outcome, 'idle-timeout');
  assert.match(String(line.reason), /no traffic for 2000 ms/);
});
