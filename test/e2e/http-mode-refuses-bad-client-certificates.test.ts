/**
 * Http mode with clientAuth `require` and a CRL, and bob on `edge.deny`: a
 * client with no certificate, one from an unknown CA, an expired one, a revoked
 * one and a denied identity each get a 4xx with a short JSON body (HTTP/1.1 and
 * HTTP/2), nothing reaches the backend, and the proxy logs exactly one line
 * with the reason. Alice, asking in between, is served.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { identityOfFile, logsSince, reasonLines, writeClientCertificates } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  const { crl } = await writeClientCertificates(pki);
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'http' }, {
    clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, crl },
    deny: [identityOfFile(pki.dir, 'bob')],
  })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const cases: { who: string | undefined; status: number; reason: string }[] = [
  { who: undefined, status: 400, reason: 'no certificate' },
  { who: 'stranger', status: 400, reason: 'unknown CA' },
  { who: 'expired', status: 400, reason: 'expired' },
  { who: 'revoked', status: 400, reason: 'revoked' },
  { who: 'bob', status: 403, reason: 'denied identity' },
];

for (const c of cases) {
  for (const version of ['--http1.1', '--http2']) {
    test(`${c.who ?? 'no certificate'} (${version.slice(2)}): ${c.status}, short body, one log line "${c.reason}"`, async () => {
      const seen = backend.requests.length;
      const mark = proxy.logs.length;
      const r = curlStatus(await curl(pki.dir, c.who, `https://localhost:${proxy.port}/anything`, [version]));
      assert.equal(r.status, c.status, r.body);
      assert.ok(r.body.length < 200, 'a short body');
      assert.equal(JSON.parse(r.body).error !== undefined, true, 'a JSON error body');
      if (c.reason === 'denied identity') assert.doesNotMatch(r.body, /deny|denied/, 'the client is not told about the deny list');
      const refused = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'client refused');
      await proxy.waitForLog((l) => l.msg === 'request' && l.conn === refused.conn);
      const withReason = reasonLines(await logsSince(proxy, mark));
      assert.equal(withReason.length, 1, JSON.stringify(withReason));
      assert.equal(withReason[0].reason, c.reason);
      assert.equal(withReason[0].outcome, 'refused');
      assert.equal(backend.requests.length, seen, 'nothing reached the backend');

      const ok = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/after`, [version]));
      assert.equal(ok.status, 200, 'alice is still served');
      assert.equal(JSON.parse(ok.body).identity, identityOfFile(pki.dir, 'alice'));
    });
  }
}
