/**
 * Connection mode checks the upstream before a byte of the client's goes to it:
 * a certificate from a CA other than the upstream's `ca`, a certificate without
 * the configured `servername`, a backend that only speaks TLS 1.2 (the
 * upstream default is TLS 1.3), a port with nobody listening and a server that
 * does not speak TLS are each refused: the client's connection is closed with
 * nothing forwarded, and one line says why — also when the proxy holds a
 * resumable TLS session for the same address from another upstream (a resumed
 * session skips Node's name check). The same TLS 1.2 backend is
 * accepted with `minVersion: TLSv1.2`. A backend that crashes in the middle
 * of a stream (TCP reset) closes the client's connection after what it sent. Good traffic flows
 * throughout.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, trackSockets, type TlsBackend } from '../helpers/node-backend.js';
import { freePort } from '../helpers/net.js';
import { identityOfFile, logsSince, reasonLines, sClient, upstreamTo, writeIssued } from '../helpers/e2e.js';
import { issueCertificate } from '../../src/pki/dev/index.js';

let pki: TestPki;
let good: TlsBackend;
let impostor: TlsBackend;
let tls12: TlsBackend;
let dying: NetServer;
let plain: NetServer;
let proxy: ProxyProcess;
const adHoc: { destroyAll(): void }[] = [];

const greet = (c: { socket: import('node:tls').TLSSocket; identity?: string }) => c.socket.once('data', () => c.socket.end(`hello ${c.identity}\n`));

before(async () => {
  pki = await makePki();
  good = await startTlsBackend({ pkiDir: pki.dir, onConnection: greet });
  tls12 = await startTlsBackend({ pkiDir: pki.dir, maxVersion: 'TLSv1.2', onConnection: greet });
  // dies abruptly (TCP reset) after part of its reply: a crash, not a close
  const ctx = createSecureContext({ cert: readFileSync(`${pki.dir}/backend.crt`), key: readFileSync(`${pki.dir}/backend.key`), ca: readFileSync(`${pki.dir}/delegation-ca.crt`) });
  dying = createNetServer((raw) => {
    raw.on('error', () => {});
    const s = new TLSSocket(raw, { isServer: true, secureContext: ctx, requestCert: true, rejectUnauthorized: true });
    s.on('error', () => {});
    s.once('data', () => s.write('partial reply', () => raw.resetAndDestroy()));
  });
  adHoc.push(trackSockets(dying));
  const dyingPort = await new Promise<number>((r) => dying.listen(0, '127.0.0.1', () => r((dying.address() as { port: number }).port)));
  // an impostor: the right name, from a CA the proxy does not trust; in its own directory, as the startTlsBackend files are fixed
  const { dir } = await import('node:fs/promises').then(async (fs) => ({ dir: await fs.mkdtemp(`${pki.dir}/impostor-`) }));
  const otherCa = await issueCertificate({ subject: 'CN=impostor CA', ca: true });
  await writeIssued(dir, 'backend', { subject: 'CN=backend.internal', issuer: otherCa, usage: 'server', dnsNames: ['backend.internal'], ipAddresses: ['127.0.0.1'] });
  const { copyFile } = await import('node:fs/promises');
  await copyFile(`${pki.dir}/delegation-ca.crt`, `${dir}/delegation-ca.crt`);
  impostor = await startTlsBackend({ pkiDir: dir, onConnection: greet });
  plain = createNetServer((s) => { s.on('error', () => {}); s.end('SSH-2.0-OpenSSH_9.2\r\n'); });
  adHoc.push(trackSockets(plain));
  const plainPort = await new Promise<number>((r) => plain.listen(0, '127.0.0.1', () => r((plain.address() as { port: number }).port)));

  const config = baseConfig(pki.dir, good.port) as Record<string, unknown>;
  config.upstreams = {
    good: upstreamTo(pki.dir, good.port),
    impostor: upstreamTo(pki.dir, impostor.port),
    wrongname: upstreamTo(pki.dir, good.port, { servername: 'other.internal' }),
    tls12: upstreamTo(pki.dir, tls12.port),
    tls12ok: upstreamTo(pki.dir, tls12.port, { minVersion: 'TLSv1.2' }),
    down: upstreamTo(pki.dir, await freePort()),
    plain: upstreamTo(pki.dir, plainPort),
    dying: upstreamTo(pki.dir, dyingPort),
  };
  config.routes = ['impostor', 'wrongname', 'tls12', 'tls12ok', 'down', 'plain', 'dying'].map((u) => ({ upstream: u, mode: 'connection', match: { sni: `${u}.test` } }))
    .concat([{ upstream: 'good', mode: 'connection' } as never]);
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => {
  await proxy?.stop();
  for (const b of [good, impostor, tls12]) await b?.close();
  plain?.close();
  dying?.close();
  for (const t of adHoc) t.destroyAll();
});

const alice = () => identityOfFile(pki.dir, 'alice');

const refusals: { upstream: string; reason: RegExp }[] = [
  { upstream: 'impostor', reason: /unable to verify the first certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE/i },
  { upstream: 'wrongname', reason: /other\.internal/ },
  { upstream: 'tls12', reason: /protocol|version/i },
  { upstream: 'down', reason: /ECONNREFUSED/ },
  { upstream: 'plain', reason: /wrong version number|packet length|SSL|ECONNRESET/i },
];

for (const c of refusals) {
  test(`${c.upstream}: the client's connection is closed, nothing forwarded, one line says why`, async () => {
    // alice first talks to the good upstream, so the proxy holds a TLS session for its address
    assert.equal((await sClient(proxy.port, pki.dir, 'alice', { input: 'hi\n' })).stdout, `hello ${alice()}\n`);
    const mark = proxy.logs.length;
    const r = await sClient(proxy.port, pki.dir, 'alice', { servername: `${c.upstream}.test`, input: 'secret\n' });
    assert.equal(r.stdout, '', 'no byte came back');
    const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'connection' && l.sni === `${c.upstream}.test`);
    assert.equal(line.outcome, 'upstream-unavailable');
    assert.equal(line.route, c.upstream);
    assert.match(String(line.reason), c.reason);
    // (plus, the first time, the server's own 'upstream server down' line)
    assert.equal(reasonLines(await logsSince(proxy, mark)).filter((l) => l.msg !== 'upstream server down').length, 1);
    const ok = await sClient(proxy.port, pki.dir, 'alice', { input: 'hi\n' });
    assert.equal(ok.stdout, `hello ${alice()}\n`, 'others are still served');
  });
}

test('the TLS 1.2 backend is accepted with minVersion: TLSv1.2', async () => {
  const r = await sClient(proxy.port, pki.dir, 'alice', { servername: 'tls12ok.test', input: 'hi\n' });
  assert.equal(r.stdout, `hello ${alice()}\n`);
});

test('the impostor never saw the client\'s bytes', () => {
  assert.equal(impostor.connections.length, 0, 'verification failed before the pipe was set up');
});

test('a backend that dies mid-stream: the client gets what was sent, then the connection closes; one line says so', async () => {
  const mark = proxy.logs.length;
  const r = await sClient(proxy.port, pki.dir, 'alice', { servername: 'dying.test', input: 'go\n' });
  assert.equal(r.stdout, 'partial reply');
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'connection' && l.sni === 'dying.test');
  assert.equal(line.server !== undefined, true, 'the upstream was reached');
  assert.equal(line.bytesOut, 'partial reply'.length);
  const ok = await sClient(proxy.port, pki.dir, 'alice', { input: 'hi\n' });
  assert.equal(ok.stdout, `hello ${alice()}\n`, 'others are still served');
});
