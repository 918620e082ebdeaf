/**
 * The Kubernetes API server's front-proxy path, with a real Node https backend
 * doing what the apiserver's request-header authenticator does: it requires a
 * client certificate from its `--requestheader-client-ca-file` (here the CA of
 * the proxy's proxyCert) whose CN is in `--requestheader-allowed-names`, then
 * takes the user from X-Remote-User and one group per X-Remote-Group header.
 * A client's own X-Remote-User / X-Remote-Group / X-Remote-Extra-* /
 * X-Remote-Uid (read since Kubernetes 1.32), or any other X-Remote-* header,
 * never reach it, over HTTP/1.1 or HTTP/2; a direct request with those headers but no front-proxy certificate is
 * not believed.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { trackSockets } from '../helpers/node-backend.js';
import { writeIssued } from '../helpers/e2e.js';
import { curl, curlStatus } from '../helpers/run-command.js';

let pki: TestPki;
let proxy: ProxyProcess;
let apiserver: Server;
let port: number;
const ALLOWED_NAMES = ['countersign proxy']; // --requestheader-allowed-names

before(async () => {
  pki = await makePki();
  await writeIssued(pki.dir, 'jane', { subject: 'CN=jane, O=developers, O=ops+O=oncall', issuer: pki.pki.clientCa });
  const f = (n: string) => readFileSync(pki.file(n));
  apiserver = createServer({ cert: f('backend.crt'), key: f('backend.key'), ca: f('backend-ca.crt'), requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const s = req.socket as TLSSocket;
    const peer = s.getPeerCertificate();
    const frontProxy = s.authorized && ALLOWED_NAMES.includes(String(peer.subject?.CN));
    const headers = req.headersDistinct;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(frontProxy
      ? {
        authenticatedBy: 'requestheader', user: headers['x-remote-user'], groups: headers['x-remote-group'] ?? [], extra: Object.keys(req.headers).filter((h) => h.startsWith('x-remote-extra-')),
        // the apiserver's --requestheader-uid-headers (1.32), and whatever else under the prefix arrived
        ...(headers['x-remote-uid'] ? { uid: headers['x-remote-uid'] } : {}),
        ...(Object.keys(req.headers).some((h) => h.replaceAll('_', '-').startsWith('x-remote-') && !['x-remote-user', 'x-remote-group', 'x-remote-uid'].includes(h) && !h.startsWith('x-remote-extra-'))
          ? { other: Object.keys(req.headers).filter((h) => h.replaceAll('_', '-').startsWith('x-remote-')) } : {}),
      }
      : { authenticatedBy: 'none', cn: peer.subject?.CN ?? null }));
  });
  const t = trackSockets(apiserver);
  after(() => t.destroyAll());
  port = await new Promise<number>((r) => apiserver.listen(0, '127.0.0.1', () => r((apiserver.address() as { port: number }).port)));
  const config = baseConfig(pki.dir, port, {
    mode: 'http', identity: 'header', header: 'k8s-front-proxy',
    proxyCert: { cert: pki.file('proxy-client.crt'), key: pki.file('proxy-client.key') },
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});

after(async () => {
  await proxy?.stop();
  await new Promise((r) => apiserver?.close(r));
});

test('the backend authenticates the front proxy by its certificate and reads the user and one group per O', async () => {
  const r = curlStatus(await curl(pki.dir, 'jane', `https://localhost:${proxy.port}/api/v1/namespaces`));
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { authenticatedBy: 'requestheader', user: ['jane'], groups: ['developers', 'ops', 'oncall'], extra: [] });
});

test('X-Remote-* headers a client sends are removed before the request is forwarded', async () => {
  const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/api`, [
    '-H', 'X-Remote-User: system:admin', '-H', 'X-Remote-Group: system:masters', '-H', 'x_remote_group: system:masters',
    '-H', 'X-Remote-Extra-Scopes: everything',
  ]));
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { authenticatedBy: 'requestheader', user: ['alice'], groups: ['countersign dev'], extra: [] });
});

for (const version of ['--http1.1', '--http2']) {
  test(`${version.slice(2)}: X-Remote-Uid and every other X-Remote-* header a client sends are removed`, async () => {
    const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/api`, [version,
      '-H', 'X-Remote-Uid: 0', '-H', 'x_remote_uid: 0', '-H', 'X-Remote-Groups: system:masters', '-H', 'X-Remote-Anything: x',
    ]));
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { authenticatedBy: 'requestheader', user: ['alice'], groups: ['countersign dev'], extra: [] });
  });
}

test('sent directly without the front-proxy certificate, the same headers are not believed', async () => {
  const r = curlStatus(await curl(pki.dir, 'jane', `https://127.0.0.1:${port}/api`, ['--cacert', pki.file('backend-ca.crt'), '-H', 'X-Remote-User: system:admin']));
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).authenticatedBy, 'none');
});
