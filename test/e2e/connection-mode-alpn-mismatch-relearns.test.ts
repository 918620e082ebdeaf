/**
 * A server that stops speaking a protocol the proxy learned: the client that
 * got it at the edge is closed with an `alpn-mismatch` line (the server is not
 * marked failed), the proxy probes the server again, and the next client gets
 * what the server speaks now.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { sClient } from '../helpers/e2e.js';

let pki: TestPki;
let backend: Server;
let proxy: ProxyProcess;
/** what the backend speaks right now */
let speaks = ['h2', 'http/1.1'];

before(async () => {
  pki = await makePki();
  const read = (f: string) => readFileSync(`${pki.dir}/${f}`);
  backend = createServer({
    cert: read('backend.crt'), key: read('backend.key'), ca: read('delegation-ca.crt'), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3',
    ALPNCallback: ({ protocols }) => speaks.find((p) => protocols.includes(p)),
  }, (s: TLSSocket) => { s.on('error', () => {}); s.end(`alpn=${s.alpnProtocol || 'none'}\n`); });
  backend.on('tlsClientError', () => {});
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, (backend.address() as AddressInfo).port)));
});
after(async () => { await proxy?.stop(); await new Promise((r) => backend?.close(r)); });

test('a server that drops h2 gets a mismatch line, is re-probed, and the next client gets http/1.1', async () => {
  const first = await proxy.waitForLog((l) => l.msg === 'upstream protocols learned');
  assert.deepEqual(first.alpn, ['h2', 'http/1.1']);
  const ok = await sClient(proxy.port, pki.dir, 'alice', { input: '', args: ['-alpn', 'h2,http/1.1'] });
  assert.equal(ok.stdout, 'alpn=h2\n');

  speaks = ['http/1.1'];
  const mark = proxy.logs.length;
  const cut = await sClient(proxy.port, pki.dir, 'alice', { input: '', args: ['-alpn', 'h2,http/1.1'] });
  assert.equal(cut.stdout, '', 'nothing from a server that would speak another protocol');
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'connection' && l.outcome !== 'closed');
  assert.equal(line.outcome, 'alpn-mismatch');
  assert.match(String(line.reason), /h2/);
  const relearned = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'upstream protocols learned');
  assert.deepEqual(relearned.alpn, ['http/1.1']);
  assert.deepEqual(relearned.previous, ['h2', 'http/1.1']);

  const after = await sClient(proxy.port, pki.dir, 'alice', { input: '', args: ['-alpn', 'h2,http/1.1'] });
  assert.equal(after.stdout, 'alpn=http/1.1\n', 'the only server was not marked failed and speaks http/1.1 now');
});
