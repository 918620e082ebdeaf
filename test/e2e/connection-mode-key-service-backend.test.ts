/**
 * Connection mode (L4), delegated identity, in front of the demo key service:
 * one upstream TLS connection per client connection, authenticated once with
 * the minted certificate; the service applies its policies to the real client.
 * The key service speaks HTTP/1.1 only; with no `alpn` key the proxy learns
 * that by probing it, and a curl that offers h2 gets HTTP/1.1 from the edge
 * instead of a broken h2 stream.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { curl, runCommand } from '../helpers/run-command.js';
import { identityOfFile } from '../helpers/e2e.js';

interface KeyService { port: number; close(): Promise<void> }

let pki: TestPki;
let service: KeyService;
let proxy: ProxyProcess;
let url: string;

/** curl's body, status and HTTP version */
async function get(who: string, path: string, extra: string[] = []) {
  const r = await curl(pki.dir, who, `${url}${path}`, ['-w', '\n%{http_code} %{http_version}', ...extra]);
  const i = r.stdout.lastIndexOf('\n');
  const [status, version] = r.stdout.slice(i + 1).split(' ');
  return { status: Number(status), version, body: r.stdout.slice(0, i), stderr: r.stderr };
}

before(async () => {
  pki = await makePki();
  const { startKeyService } = await import(join(REPO_ROOT, 'examples/demo/key-service.mjs')) as {
    startKeyService(o: { certsDir: string; port: number; log: (l: string) => void }): Promise<KeyService>;
  };
  service = await startKeyService({ certsDir: pki.dir, port: 0, log: () => {} });
  const config = baseConfig(pki.dir, service.port, { mode: 'connection' });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  url = `https://localhost:${proxy.port}`;
});
after(async () => { await proxy?.stop(); await service?.close(); });

test('alice (curl offering h2 and http/1.1) is served over HTTP/1.1 and identified as herself', async () => {
  const r = await get('alice', '/v1/key/create/app-key', ['-X', 'POST']);
  assert.equal(r.status, 200, r.body + r.stderr);
  assert.equal(r.version, '1.1', 'the edge negotiated what the upstream speaks');
  const body = JSON.parse(r.body);
  assert.equal(body.client.identity, identityOfFile(pki.dir, 'alice'));
  assert.equal(body.client.via, 'delegated');
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.identity === body.client.identity);
  assert.equal(line.mode, 'connection');
  assert.equal(line.outcome, 'closed');
  assert.ok(Number(line.bytesIn) > 0 && Number(line.bytesOut) > 0, 'bytes counted both ways');
});

test('bob is prohibited by policy; the 403 comes from the service through the pipe', async () => {
  const r = await get('bob', '/v1/key/create/app-key2', ['-X', 'POST', '--http1.1']);
  assert.equal(r.status, 403, r.body);
  assert.match(r.body, /prohibited by policy/);
});

test('a client that offers only h2 to an HTTP/1.1 upstream gets no ALPN (not h2), like nginx', async () => {
  const mark = proxy.logs.length;
  const r = await runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${proxy.port}`, '-servername', 'localhost', '-CAfile', `${pki.dir}/edge-ca.crt`,
    '-cert', `${pki.dir}/alice.crt`, '-key', `${pki.dir}/alice.key`, '-alpn', 'h2',
  ], { input: '', timeoutMs: 8000 });
  assert.match(r.stdout, /No ALPN negotiated/);
  assert.doesNotMatch(r.stdout, /ALPN protocol: h2/);
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'connection' && l.identity === identityOfFile(pki.dir, 'alice'));
  assert.notEqual(line.outcome, 'alpn-mismatch');
});
