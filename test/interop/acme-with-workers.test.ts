/**
 * ACME with `workers: 2` against a real Pebble, for http-01 and tls-alpn-01:
 * the primary runs the one ACME manager; the challenge is answered by whichever
 * worker takes Pebble's validation connection (the primary sent it to both over
 * IPC), and the issued certificate is served by both workers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/openssl-server.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { runCommand } from '../helpers/run-command.js';
import { childPids } from '../helpers/process-ports.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let backend: HttpsBackend;
const pebbles: Pebble[] = [];
const proxies: ProxyProcess[] = [];

before(async () => {
  pki = await makePki();
  backend = await startHttpsBackend({ pkiDir: pki.dir });
});
after(async () => {
  for (const p of proxies) {
    for (const pid of p.child.pid ? await childPids(p.child.pid) : []) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
  await backend?.close();
  for (const p of pebbles) await p.stop();
});

for (const challenge of ['http-01', 'tls-alpn-01'] as const) {
  test(`${challenge}: a worker answers the validation, and both workers serve the issued certificate`, async () => {
    const domain = `${challenge.replace(/-/g, '')}.countersign.test`;
    const edgePort = await freePort();
    const httpPort = await freePort();
    const pebble = await startPebble({ httpPort, tlsPort: edgePort });
    pebbles.push(pebble);
    await pebble.addDomain(domain);
    const caFile = join(pki.dir, `pebble-https-ca-${challenge}.crt`);
    await writeFile(caFile, pebble.httpsCa);
    const configFile = await writeConfig(pki.dir, {
      listen: `127.0.0.1:${edgePort}`,
      workers: 2,
      edge: {
        clientAuth: { mode: 'require', ca: 'client-ca.crt' },
        acme: {
          directory: pebble.directoryUrl, ca: caFile, domains: [domain], challenge, storage: `acme-${challenge}`,
          ...(challenge === 'http-01' ? { httpListen: `127.0.0.1:${httpPort}` } : {}),
        },
      },
      delegation: { ca: { cert: 'delegation-ca.crt', key: 'delegation-ca.key' } },
      upstreams: { app: { servers: [`127.0.0.1:${backend.port}`], ca: 'backend-ca.crt', servername: 'backend.internal' } },
      routes: [{ upstream: 'app', mode: 'http' }],
    }, `acme-${challenge}.yaml`);
    const proxy = await startProxyProcess(configFile);
    proxies.push(proxy);

    const issued = await proxy.waitForLog((l) => l.msg === 'ACME certificate issued', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${pebble.logs().slice(-3000)}`);
    });
    assert.equal(issued.domain, domain);
    assert.equal(issued.worker, undefined, 'the primary ordered it');
    const answered = proxy.logs.filter((l) => l.msg === `answered ${challenge} validation`);
    assert.ok(answered.length >= 1, 'the validation was answered');
    assert.ok(answered.every((l) => l.worker === 1 || l.worker === 2), `answered by a worker: ${JSON.stringify(answered)}`);
    assert.ok(!proxy.logs.some((l) => l.msg === 'ACME issuance failed; will retry'));

    const root = join(pki.dir, `pebble-root-${challenge}.crt`);
    await writeFile(root, await pebble.issuingRoot());
    const mark = proxy.logs.length;
    for (let i = 0; i < 6; i++) {
      const r = await runCommand('curl', ['-sS', '--max-time', '10', '--resolve', `${domain}:${edgePort}:127.0.0.1`, '--cacert', root,
        '--cert', `${pki.dir}/alice.crt`, '--key', `${pki.dir}/alice.key`, `https://${domain}:${edgePort}/hello`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"url":"\/hello"/);
    }
    // a worker writes its request line as the answer ends: wait for all six (with workers there is no one barrier)
    const lines = await waitFor(() => { const ok = proxy.logs.slice(mark).filter((l) => l.msg === 'request' && l.status === 200); return ok.length >= 6 && ok; }, 'a request line per request');
    const served = new Set(lines.map((l) => l.worker));
    assert.deepEqual([...served].sort(), [1, 2], 'both workers served with the certificate the primary obtained');
    assert.equal(await proxy.stop(), 0);
  });
}
