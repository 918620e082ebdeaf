/**
 * PROXY protocol with real balancers. The client connects from 127.0.0.2;
 * HAProxy (mode tcp, `send-proxy-v2`) and nginx stream (`proxy_protocol on`,
 * v1) connect to countersign from 127.0.0.1, the only trusted source. The
 * client's own address is what countersign logs and sends in X-Forwarded-For
 * (http mode), and what it tells a backend in its own PROXY header (connection
 * mode, `upstreams.<name>.proxyProtocol: v1 | v2`, to an nginx that reads
 * `proxy_protocol`). A header from an untrusted source, or a trusted source
 * without one, is refused with one log line.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { freePort } from '../helpers/nginx.js';
import { startHaproxy, startNginxWith, nginxHttpTemps, type RunningProcess } from '../helpers/l4-balancers.js';
import { runCommand } from '../helpers/run-command.js';
import { identityOfFile, tcpClient, readUntilClose, writeIssued } from '../helpers/e2e.js';
import { buildProxyHeader } from '../../src/edge/proxy-protocol.js';

let pki: TestPki;
let httpBackend: HttpsBackend;
let ppBackend: RunningProcess;
let proxy: ProxyProcess;
let haproxy: RunningProcess;
let nginxFront: RunningProcess;
let ppBackendPort: number;
let haproxyPort: number;
let nginxPort: number;

before(async () => {
  pki = await makePki();
  await writeIssued(pki.dir, 'edge-names', { subject: 'CN=conn.localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['conn1.localhost', 'conn2.localhost'] });
  httpBackend = await startHttpsBackend({ pkiDir: pki.dir });
  // a TLS backend that requires PROXY protocol (v1 or v2) and the delegation CA
  ppBackendPort = await freePort();
  ppBackend = await startNginxWith({
    port: ppBackendPort,
    blocks: (dir) => `http {
  access_log off;
  ${nginxHttpTemps(dir)}
  server {
    listen 127.0.0.1:${ppBackendPort} ssl proxy_protocol;
    ssl_certificate ${pki.dir}/backend.crt;
    ssl_certificate_key ${pki.dir}/backend.key;
    ssl_client_certificate ${pki.dir}/delegation-ca.crt;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "addr=$proxy_protocol_addr dn=$ssl_client_s_dn\\n"; }
  }
}`,
  });
  const config = baseConfig(pki.dir, httpBackend.port, { mode: 'http' }, { proxyProtocol: { trusted: ['127.0.0.1/32'] }, handshakeTimeout: '2s' }) as { upstreams: Record<string, unknown>; routes: unknown[]; edge: { certificates: unknown[] } };
  config.edge.certificates.push({ cert: `${pki.dir}/edge-names.crt`, key: `${pki.dir}/edge-names.key` });
  const pp = (v: string) => ({ servers: [`127.0.0.1:${ppBackendPort}`], ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal', proxyProtocol: v });
  config.upstreams.v1 = pp('v1');
  config.upstreams.v2 = pp('v2');
  config.routes = [
    { upstream: 'v1', match: { sni: 'conn1.localhost' }, mode: 'connection' },
    { upstream: 'v2', match: { sni: 'conn2.localhost' }, mode: 'connection' },
    { upstream: 'backend', mode: 'http' },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  haproxyPort = await freePort();
  haproxy = await startHaproxy({ port: haproxyPort, to: `127.0.0.1:${proxy.port}`, send: 'send-proxy-v2' });
  nginxPort = await freePort();
  nginxFront = await startNginxWith({
    port: nginxPort,
    blocks: () => `stream { server { listen 127.0.0.1:${nginxPort}; proxy_pass 127.0.0.1:${proxy.port}; proxy_protocol on; } }`,
  });
});
after(async () => {
  await haproxy?.stop(); await nginxFront?.stop(); await proxy?.stop(); await ppBackend?.stop(); await httpBackend?.close();
});

/** curl from 127.0.0.2 as alice to `name` via the balancer on `port` */
const curlFrom2 = (port: number, name: string, path = '/') => runCommand('curl', [
  '-sS', '--max-time', '10', '--interface', '127.0.0.2', '--cacert', `${pki.dir}/edge-ca.crt`,
  '--cert', `${pki.dir}/alice.crt`, '--key', `${pki.dir}/alice.key`, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}${path}`,
]);

for (const front of ['haproxy (send-proxy-v2)', 'nginx stream (proxy_protocol on)']) {
  const port = () => (front.startsWith('haproxy') ? haproxyPort : nginxPort);

  test(`${front}, http mode: X-Forwarded-For and the log carry the client's 127.0.0.2`, async () => {
    const path = `/xff-${front.split(' ')[0]}`;
    const r = await curlFrom2(port(), 'localhost', path);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).identity, identityOfFile(pki.dir, 'alice'));
    const seen = httpBackend.requests.find((q) => q.url === path);
    assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.2');
    const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.remoteAddress === '127.0.0.2' && l.mode === 'http');
    assert.equal(line.identity, identityOfFile(pki.dir, 'alice'));
  });

  for (const v of ['v1', 'v2']) {
    test(`${front}, connection mode: the backend's own PROXY ${v} header carries 127.0.0.2`, async () => {
      const r = await curlFrom2(port(), `conn${v.slice(1)}.localhost`);
      assert.equal(r.code, 0, r.stderr + JSON.stringify(proxy.logs.filter((l) => l.upstream === v || l.msg.includes('protocols'))) + await ppBackend.output());
      assert.match(r.stdout, /^addr=127\.0\.0\.2 dn=O=countersign dev,CN=alice\n$/);
      await proxy.waitForLog((l) => l.msg === 'connection' && l.remoteAddress === '127.0.0.2' && l.upstream === v);
    });
  }
}

test('a PROXY header from an untrusted source (127.0.0.2 directly) is refused, one line', async () => {
  const mark = proxy.logs.length;
  const s = await new Promise<import('node:net').Socket>((resolve, reject) => {
    import('node:net').then(({ connect }) => {
      const c = connect({ host: '127.0.0.1', port: proxy.port, localAddress: '127.0.0.2' }, () => resolve(c));
      c.once('error', reject);
    });
  });
  const done = readUntilClose(s);
  s.write(buildProxyHeader('v2', { address: '203.0.113.9', port: 1234 }, { address: '127.0.0.1', port: proxy.port }));
  await done;
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.outcome === 'handshake-failed');
  assert.equal(line.reason, 'ERR_PROXY_PROTOCOL');
  assert.equal(line.remoteAddress, '127.0.0.2', 'the socket address, not the forged one');
  assert.match(String(line.detail), /not in edge\.proxyProtocol\.trusted/);
});

test('a trusted source without a header is refused, one line', async () => {
  const mark = proxy.logs.length;
  const r = await runCommand('curl', ['-sS', '--max-time', '10', '--cacert', `${pki.dir}/edge-ca.crt`, '--cert', `${pki.dir}/alice.crt`, '--key', `${pki.dir}/alice.key`, `https://localhost:${proxy.port}/`]);
  assert.notEqual(r.code, 0);
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.outcome === 'handshake-failed');
  assert.equal(line.reason, 'ERR_PROXY_PROTOCOL');
});

test('a trusted source that sends half a header is dropped within edge.handshakeTimeout', async () => {
  const mark = proxy.logs.length;
  const s = await tcpClient(proxy.port);
  const done = readUntilClose(s);
  s.write('PROXY TCP4 192.0.2.1');
  await done;
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.outcome === 'handshake-failed');
  assert.equal(line.reason, 'ERR_CLIENT_HELLO_TIMEOUT');
});
