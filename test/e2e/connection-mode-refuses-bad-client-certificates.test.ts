/**
 * Connection mode with clientAuth `require` and a CRL, and bob on `edge.deny`:
 * `openssl s_client` with no certificate, one from an unknown CA, an expired,
 * a revoked or a denied one has its connection closed without a byte from the
 * backend, nothing is forwarded, and the proxy logs exactly one line with the
 * reason. Alice, in between, gets the backend's greeting.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { identityOfFile, logsSince, reasonLines, sClient, writeClientCertificates } from '../helpers/e2e.js';

let pki: TestPki;
let backend: TlsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  const { crl } = await writeClientCertificates(pki);
  // the backend greets whoever the delegation extension names, then closes
  backend = await startTlsBackend({
    pkiDir: pki.dir,
    onConnection: (c) => c.socket.once('data', () => c.socket.end(`hello ${c.identity ?? c.identifyError}\n`)),
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, { mode: 'connection' }, {
    clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, crl },
    deny: [identityOfFile(pki.dir, 'bob')],
  })));
});
after(async () => { await proxy?.stop(); await backend?.close(); });

const cases: { who: string | undefined; reason: string }[] = [
  { who: undefined, reason: 'no certificate' },
  { who: 'stranger', reason: 'unknown CA' },
  { who: 'expired', reason: 'expired' },
  { who: 'revoked', reason: 'revoked' },
  { who: 'bob', reason: 'denied identity' },
];

for (const c of cases) {
  test(`${c.who ?? 'no certificate'}: connection closed, nothing forwarded, one log line "${c.reason}"`, async () => {
    const forwarded = backend.connections.length;
    const mark = proxy.logs.length;
    const r = await sClient(proxy.port, pki.dir, c.who);
    assert.doesNotMatch(r.stdout, /hello/, 'no byte from the backend');
    const refused = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'client refused');
    const withReason = reasonLines(await logsSince(proxy, mark));
    assert.equal(withReason.length, 1, JSON.stringify(withReason));
    assert.equal(refused.reason, c.reason);
    assert.equal(refused.outcome, 'refused');
    assert.equal(backend.connections.length, forwarded, 'no upstream connection was opened');

    const ok = await sClient(proxy.port, pki.dir, 'alice');
    assert.equal(ok.stdout, `hello ${identityOfFile(pki.dir, 'alice')}\n`, 'alice is still served');
  });
}
