/**
 * Http mode forwards through one upstream pool per identity: requests from
 * alice, bob and root, sent at the same time over HTTP/1.1 and HTTP/2, arrive
 * at the backend on connections that each carry exactly one identity (the
 * backend looks at the certificate of each request's socket), and the upstream
 * connections are kept alive and reused.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { runCommand } from '../helpers/run-command.js';
import { identityOfFile } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({
    pkiDir: pki.dir,
    // a little work per request, so that requests from different clients overlap
    routes: { '/slow': (_req, res, seen) => setTimeout(() => res.end(`${seen.identity}\n`), 20) },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const N = 8;

function burst(who: string, version: string) {
  const urls = Array.from({ length: N }, (_, i) => `https://localhost:${proxy.port}/slow/${who}/${i}`);
  return runCommand('curl', [
    '-sS', '--max-time', '20', '--cacert', `${pki.dir}/edge-ca.crt`, '--cert', `${pki.dir}/${who}.crt`, '--key', `${pki.dir}/${who}.key`,
    version, '--parallel', '--parallel-max', '6', ...urls,
  ], { timeoutMs: 25_000 });
}

test('concurrent clients never share an upstream TLS connection', async () => {
  const who = ['alice', 'bob', 'root'];
  const results = await Promise.all(who.flatMap((w) => [burst(w, '--http1.1'), burst(w, '--http2')]));
  for (const [i, r] of results.entries()) {
    const w = who[Math.floor(i / 2)];
    assert.equal(r.stdout, `${identityOfFile(pki.dir, w)}\n`.repeat(N), `${w}: every answer names ${w} (${r.stderr})`);
  }
  const requests = backend.requests.filter((r) => r.url.startsWith('/slow/'));
  assert.equal(requests.length, who.length * 2 * N);
  for (const r of requests) {
    assert.equal(r.identity, identityOfFile(pki.dir, r.url.split('/')[2]), `${r.url} arrived as its own client`);
  }
  const bySocket = backend.identitiesBySocket();
  for (const [socket, identities] of bySocket) {
    assert.equal(identities.size, 1, `upstream connection ${socket} carried ${[...identities].join(', ')}`);
  }
  const sockets = new Set(requests.map((r) => r.socket));
  assert.ok(sockets.size >= who.length, 'one connection at least per identity');
  assert.ok(sockets.size < requests.length, `upstream connections are reused (${sockets.size} for ${requests.length} requests)`);
});
