/**
 * Access rules at the edge (`allow`), through the real proxy with real client
 * certificates, in connection and http mode: a client some listed value
 * matches (a CN, a SPIFFE ID under a `/*`) is served; any other is refused
 * before anything is minted, the way a denied identity is (a closed
 * connection; 403 "client certificate refused: forbidden"), and the log names
 * the rule. A session saved while a rule admitted the client, resumed
 * (`openssl s_client -sess_in`) after a reload (SIGHUP) that narrows the rule,
 * or after a restart with the same session-ticket key file, is refused too;
 * in connection mode the reload also closes the client's open connection.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, makePki, runCli, startProxyProcess, writeConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { identityOfFile, readUntilClose, tlsClient, writeIssued } from '../helpers/e2e.js';
import { runCommand } from '../helpers/run-command.js';

let pki: TestPki;
let backend: HttpsBackend;
let keyFile: string;
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

before(async () => {
  pki = await makePki();
  // workloads with SPIFFE IDs, issued by the client CA
  await writeIssued(pki.dir, 'db-api', { subject: 'CN=db-api', issuer: pki.pki.clientCa, uris: ['spiffe://corp/ns/db/api'] });
  await writeIssued(pki.dir, 'db-api-v2', { subject: 'CN=db-api-v2', issuer: pki.pki.clientCa, uris: ['spiffe://corp/ns/db/api/v2'] });
  backend = await startHttpsBackend({ pkiDir: pki.dir });
  cleanups.push(() => backend.close());
  keyFile = join(pki.dir, 'tickets.key');
  await writeFile(keyFile, randomBytes(80), { mode: 0o600 });
});

function configFor(mode: 'connection' | 'http', allow: Record<string, string[]>): Record<string, unknown> {
  return baseConfig(pki.dir, backend.port, { mode, allow }, {
    clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt` },
    deny: [identityOfFile(pki.dir, 'root')],
    sessionTickets: { keyFile },
  });
}

async function proxyWith(mode: 'connection' | 'http', allow: Record<string, string[]>, name: string): Promise<ProxyProcess> {
  const p = await startProxyProcess(await writeConfig(pki.dir, configFor(mode, allow), `${name}.yaml`));
  cleanups.push(() => p.stop());
  return p;
}

/** One HTTP/1.1 request with openssl s_client as `who`; the status line ('' when the proxy closed), whether the session resumed. */
async function request(port: number, who: string, session: { out?: string; in?: string } = {}) {
  const r = await runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', `${pki.dir}/edge-ca.crt`,
    '-cert', `${pki.dir}/${who}.crt`, '-key', `${pki.dir}/${who}.key`, '-alpn', 'http/1.1', '-ign_eof',
    ...(session.out ? ['-sess_out', session.out] : []), ...(session.in ? ['-sess_in', session.in] : []),
  ], { input: `GET /access/${who} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, timeoutMs: 20_000 });
  const status = /HTTP\/1\.1 \d+[^\r\n]*/.exec(r.stdout)?.[0] ?? '';
  const body = r.stdout.includes('\r\n\r\n') ? r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4).split('\n')[0] : '';
  return { status, body, reused: /^Reused,/m.test(r.stdout), out: r.stdout };
}

const reached = (who: string) => backend.requests.filter((r) => r.url === `/access/${who}`).length;


for (const mode of ['connection', 'http'] as const) {
  test(`${mode} mode: a listed CN or a SPIFFE ID under /* is served; anyone else is refused like a denied identity, and the log names the rule`, async () => {
    const proxy = await proxyWith(mode, { cn: ['alice'], uri: ['spiffe://corp/ns/db/*'] }, `${mode}-rules`);
    for (const who of ['alice', 'db-api']) {
      const seen = reached(who);
      const r = await request(proxy.port, who);
      assert.equal(r.status, 'HTTP/1.1 200 OK', `${who}: ${r.out}`);
      assert.equal(reached(who), seen + 1, `${who} reached the backend`);
    }
    const denied = await request(proxy.port, 'root'); // on edge.deny: the refusal to look like
    for (const who of ['bob', 'db-api-v2']) {
      const seen = reached(who);
      const r = await request(proxy.port, who);
      if (mode === 'http') {
        assert.equal(r.status, 'HTTP/1.1 403 Forbidden', r.out);
        assert.equal(denied.status, r.status);
        assert.equal(r.body, denied.body, 'the same answer as a denied identity');
        assert.match(r.body, /client certificate refused: forbidden/);
        // the proxy's own answers carry HSTS and nosniff (testssl's header checks)
        assert.match(r.out, /^strict-transport-security: max-age=31536000\r$/mi);
        assert.match(r.out, /^x-content-type-options: nosniff\r$/mi);
      } else {
        assert.equal(r.status, '', `closed without an answer: ${r.out}`);
        assert.equal(denied.status, '');
      }
      assert.equal(reached(who), seen, `nothing of ${who} reached the backend`);
      const line = await proxy.waitForLog((l) => l.reason === 'not allowed' && String(l.subject).startsWith(`CN=${who}`));
      assert.equal(line.rule, 'routes[0].allow');
      assert.equal(line.outcome, 'refused');
      assert.equal(line.msg, mode === 'http' ? 'request' : 'client refused');
      if (mode === 'http') assert.equal(line.status, 403);
    }
  });

  test(`${mode} mode: after a reload that narrows the rule, a session saved before is refused when resumed${mode === 'connection' ? ', and the open connection is closed' : ''}`, async () => {
    const wide = { cn: ['alice', 'bob'] };
    const proxy = await proxyWith(mode, wide, `${mode}-reload`);
    const sess = join(pki.dir, `${mode}-bob.sess`);
    const aliceSess = join(pki.dir, `${mode}-alice.sess`);
    const first = await request(proxy.port, 'bob', { out: sess });
    assert.equal(first.status, 'HTTP/1.1 200 OK', first.out);
    assert.equal((await request(proxy.port, 'alice', { out: aliceSess })).status, 'HTTP/1.1 200 OK');
    // an open connection of bob's, from before the reload
    const open = await tlsClient(proxy.port, pki.dir, 'bob', { ALPNProtocols: ['http/1.1'] });
    const closed = readUntilClose(open);

    const mark = proxy.logs.length;
    await writeConfig(pki.dir, configFor(mode, { cn: ['alice'] }), `${mode}-reload.yaml`);
    proxy.child.kill('SIGHUP');
    const reloaded = await proxy.waitForLog((l) => l.msg === 'reload' && proxy.logs.indexOf(l) >= mark, 15_000);
    assert.equal(reloaded.outcome, 'ok', JSON.stringify(reloaded));
    if (mode === 'connection') {
      await closed; // closed by the reload: the rule no longer admits bob
      const line = await proxy.waitForLog((l) => l.outcome === 'revoked' && l.reason === 'not allowed' && String(l.subject).startsWith('CN=bob'));
      assert.equal(line.msg, 'connection');
    } else {
      open.destroy();
    }
    const served = reached('bob');
    const r = await request(proxy.port, 'bob', { in: sess });
    assert.ok(r.reused, `the saved session resumed (the trust did not change, nor the ticket keys): ${r.out}`);
    assert.equal(r.status, mode === 'http' ? 'HTTP/1.1 403 Forbidden' : '', r.out);
    assert.equal(reached('bob'), served, 'the resumed session reached nothing');
    const line = await proxy.waitForLog((l) => l.reason === 'not allowed' && String(l.subject).startsWith('CN=bob') && proxy.logs.indexOf(l) >= mark && l.outcome === 'refused');
    assert.equal(line.rule, 'routes[0].allow');
    // the narrowed rule still admits alice on her resumed session
    const a = await request(proxy.port, 'alice', { in: aliceSess });
    assert.ok(a.reused);
    assert.equal(a.status, 'HTTP/1.1 200 OK', a.out);
  });

  test(`${mode} mode: a session saved while the rule admitted the client is refused when resumed after a restart with a narrower rule`, async () => {
    const before = await proxyWith(mode, { cn: ['alice', 'bob'] }, `${mode}-wide`);
    const sess = join(pki.dir, `${mode}-bob-restart.sess`);
    const first = await request(before.port, 'bob', { out: sess });
    assert.equal(first.status, 'HTTP/1.1 200 OK', first.out);
    await before.stop();
    const narrowed = await proxyWith(mode, { cn: ['alice'] }, `${mode}-narrow`);
    const served = reached('bob');
    const r = await request(narrowed.port, 'bob', { in: sess });
    assert.ok(r.reused, `the saved session resumed (same ticket key file): ${r.out}`);
    assert.equal(r.status, mode === 'http' ? 'HTTP/1.1 403 Forbidden' : '', r.out);
    assert.equal(reached('bob'), served, 'the resumed session reached nothing');
  });
}

test('countersign check refuses rules that can never match (an empty list, a malformed SPIFFE ID) and names them', async () => {
  const config = baseConfig(pki.dir, backend.port, { allow: { cn: [], uri: ['spiffe://corp/ns/db/*', 'spiffe://Corp/ns'] } }, { allow: { dns: ['*.corp'] } });
  const r = await runCli(['check', '--config', await writeConfig(pki.dir, config, 'never-matches.yaml')]);
  assert.notEqual(r.code, 0);
  const out = r.stdout + r.stderr;
  assert.match(out, /routes\[0\]\.allow\.cn: an empty cn list can never match/);
  assert.match(out, /routes\[0\]\.allow\.uri\[1\]: "spiffe:\/\/Corp\/ns" is not a SPIFFE ID/);
  assert.match(out, /edge\.allow\.dns\[0\]: .*no wildcard/);
  assert.doesNotMatch(out, /uri\[0\]/, 'the valid pattern is not reported');
});
