/**
 * `countersign check` = `countersign start`: every config `start` refuses,
 * `check` refuses with the same message (exit 1) — an expired edge
 * certificate, an http: ACME directory, a wildcard ACME domain, a CA:FALSE
 * leaf as the client CA, an expired delegation CA, an upstream CA bundle with
 * nothing valid in it — and what would break clients later is a warning:
 * `check` prints it and exits 0 (1 with --strict), `start` logs it and runs.
 * `check FILE` works like `check --config FILE`.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeIssued } from '../helpers/e2e.js';
import { baseConfig, makePki, runCli, startProxyProcess, writeConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';

const DAY = 86400_000;
let pki: TestPki;
const configs: Record<string, string> = {};
const started: ProxyProcess[] = [];

/** baseConfig with `change` applied to a copy */
async function variant(name: string, change: (c: Record<string, any>) => void): Promise<string> {
  const c = baseConfig(pki.dir, 7373) as Record<string, any>;
  change(c);
  return writeConfig(pki.dir, c, `${name}.yaml`);
}

before(async () => {
  pki = await makePki();
  const past = { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) };
  await writeIssued(pki.dir, 'expired-edge', { subject: 'CN=localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['localhost'], ...past });
  await writeIssued(pki.dir, 'soon-edge', { subject: 'CN=localhost', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['localhost'], notAfter: new Date(Date.now() + 30 * 60_000) });
  await writeIssued(pki.dir, 'expired-delegation-ca', { subject: 'CN=old delegation CA', ca: true, ...past });
  await writeIssued(pki.dir, 'expired-backend-ca', { subject: 'CN=old backend CA', ca: true, ...past });
  await writeIssued(pki.dir, 'selfsigned-client', { subject: 'CN=pinned client' });
  const acme = (o: Record<string, unknown>) => (c: Record<string, any>) => {
    c.edge.certificates = [];
    c.edge.acme = { directory: 'https://127.0.0.1:14000/dir', domains: ['kes.example.com'], challenge: 'tls-alpn-01', storage: `${pki.dir}/acme`, ...o };
  };
  Object.assign(configs, {
    good: await variant('good', () => {}),
    expiredEdge: await variant('expired-edge', (c) => { c.edge.certificates = [{ cert: `${pki.dir}/expired-edge.crt`, key: `${pki.dir}/expired-edge.key` }]; }),
    httpAcme: await variant('http-acme', acme({ directory: 'http://127.0.0.1:14000/dir' })),
    wildcardAcme: await variant('wildcard-acme', acme({ domains: ['*.example.com'] })),
    leafClientCa: await variant('leaf-client-ca', (c) => { c.edge.clientAuth.ca = `${pki.dir}/alice.crt`; }),
    expiredDelegation: await variant('expired-delegation', (c) => { c.delegation.ca = { cert: `${pki.dir}/expired-delegation-ca.crt`, key: `${pki.dir}/expired-delegation-ca.key` }; }),
    expiredUpstreamCa: await variant('expired-upstream-ca', (c) => { c.upstreams.backend.ca = `${pki.dir}/expired-backend-ca.crt`; }),
    soonEdge: await variant('soon-edge', (c) => { c.edge.certificates = [{ cert: `${pki.dir}/soon-edge.crt`, key: `${pki.dir}/soon-edge.key` }]; }),
    uncoveredSni: await variant('uncovered-sni', (c) => { c.routes[0].match = { sni: 'kes.example.com' }; }),
    pinnedClientCa: await variant('pinned-client-ca', (c) => { c.edge.clientAuth.ca = [`${pki.dir}/client-ca.crt`, `${pki.dir}/selfsigned-client.crt`]; }),
  });
});
after(async () => { for (const p of started) await p.stop(); });

const refused: [string, RegExp][] = [
  ['expiredEdge', /edge\.certificates\[0\]\.cert: "CN=localhost" expired at \S+; renew it/],
  ['httpAcme', /edge\.acme\.directory: http:\/\/127\.0\.0\.1:14000\/dir must be an https URL/],
  ['wildcardAcme', /edge\.acme\.domains: "\*\.example\.com" is a wildcard, which only dns-01 can validate/],
  ['leafClientCa', /edge\.clientAuth\.ca: no certificate in \S+alice\.crt can verify anything now\n {4}edge\.clientAuth\.ca: certificate #1 of \S+alice\.crt: "CN=alice[^"]*" is not a CA certificate \(basicConstraints CA:TRUE is missing\) and not self-signed/],
  ['expiredDelegation', /delegation\.ca\.cert: "CN=old delegation CA" expired at/],
  ['expiredUpstreamCa', /upstreams\.backend\.ca: no certificate in \S+expired-backend-ca\.crt can verify anything now[\s\S]*"CN=old backend CA" expired at/],
];

describe('check refuses what start refuses, with the same message', { concurrency: true }, () => {
  test('a good config: check OK (exit 0), as FILE or --config FILE', async () => {
    for (const args of [['check', configs.good], ['check', '--config', configs.good], ['check', '-c', configs.good]]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /good\.yaml: OK \(1 route, upstreams: backend/);
      assert.equal(r.stderr, '');
    }
  });

  for (const [name, message] of refused) {
    test(`${name}: check exits 1 with the problem, and start refuses it the same way`, async () => {
      const r = await runCli(['check', configs[name]]);
      assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
      await assert.rejects(startProxyProcess(configs[name]), (err: Error) => {
        assert.match(err.message, /exited with 1 before listening/);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test('every problem of a config is listed at once (cross-checks and files together)', async () => {
    const file = await variant('many', (c) => {
      c.routes[0].upstream = 'nowhere';
      c.edge.certificates = [{ cert: `${pki.dir}/expired-edge.crt`, key: `${pki.dir}/expired-edge.key` }];
      c.upstreams.backend.ca = `${pki.dir}/missing-ca.crt`;
    });
    const r = await runCli(['check', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /many\.yaml: 3 problems/);
    assert.match(r.stderr, /routes\[0\]\.upstream: no upstream named "nowhere"/);
    assert.match(r.stderr, /upstreams\.backend\.ca: cannot read \S+missing-ca\.crt/);
    assert.match(r.stderr, /edge\.certificates\[0\]\.cert: "CN=localhost" expired/);
  });

  const warned: [string, RegExp][] = [
    ['soonEdge', /^warning: edge\.certificates\[0\]\.cert: "CN=localhost" expires in (29|30) min \(\S+\), within delegation\.ttl \(60 min\); renew it$/m],
    ['uncoveredSni', /^warning: routes\[0\]\.match\.sni: no edge certificate covers "kes\.example\.com"; its clients would get the default certificate/m],
    ['pinnedClientCa', /^warning: edge\.clientAuth\.ca: certificate #1 of \S+selfsigned-client\.crt: "CN=pinned client" is not a CA certificate; it admits exactly this one/m],
  ];
  for (const [name, warning] of warned) {
    test(`${name}: check warns and exits 0 (1 with --strict); start logs the warning and serves`, async () => {
      const r = await runCli(['check', configs[name]]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, warning);
      assert.match(r.stdout, /OK \(.*; 1 warning\)/);
      const strict = await runCli(['check', '--strict', configs[name]]);
      assert.equal(strict.code, 1);
      assert.match(strict.stderr, /1 warning \(--strict counts them as problems\)/);
      const p = await startProxyProcess(configs[name]);
      started.push(p);
      const line = await p.waitForLog((l) => l.msg === 'config warning');
      assert.match(`warning: ${String(line.reason)}`, warning);
    });
  }

  test('usage errors exit 2: no file, two files, an unknown option', async () => {
    const none = await runCli(['check']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^countersign check: missing the config file \(usage: countersign check \[--config\] FILE/);
    const two = await runCli(['check', configs.good, configs.good]);
    assert.equal(two.code, 2);
    assert.match(two.stderr, /expected one config file/);
    const typo = await runCli(['check', '--strcit', configs.good]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^countersign check: unknown option --strcit; did you mean --strict\?/);
  });
});
