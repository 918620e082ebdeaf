/**
 * etcd set up as each doc says, against Debian's etcd 3.4: the member runs
 * with the doc's flags (block `etcd-member`: `--client-cert-auth
 * --trusted-ca-file` = the delegation CA), countersign with
 * examples/etcd/countersign.yaml, and the doc's setup (block `etcd-roles`,
 * users, a role granting alice /alice/, `auth enable`) runs as written, by
 * sh, through the proxy as root. Then etcd takes the user from the minted
 * certificate's CN: alice writes and reads her prefix, bob is denied by etcd's
 * own permission check wherever he writes; alice's original certificate
 * presented to etcd directly is refused. And etcd logs its own gRPC gateway's
 * connections as from an unknown authority, as the docs warn.
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkdir, writeConfig, startProxyProcess, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { docEtcdFlags, etcdctl, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { commandArgs, docBlock, runShell } from '../helpers/doc-blocks.js';
import { runCommand } from '../helpers/run-command.js';
import { waitFor } from '../helpers/wait.js';

for (const doc of ['examples/etcd/README.md', 'docs/unaware-backends.md']) {
  describe(doc, () => {
    let pki: TestPki;
    let etcd: EtcdCluster;
    let proxy: ProxyProcess;
    let endpoint: string;
    const through = (who: string, args: string[]) => etcdctl(proxy.port, pki.dir, who, args, { endpoints: `https://localhost:${proxy.port}` });

    before(async () => {
      const work = await makeWorkdir({ example: 'etcd' });
      pki = work.pki;
      const flags = docEtcdFlags(commandArgs(docBlock(doc, 'etcd-member'), 'etcd'));
      etcd = await startEtcdCluster({ n: 1, pkiDir: pki.dir, flags, cwd: work.dir });
      endpoint = `https://127.0.0.1:${etcd.members[0].clientPort}`;
      const config = exampleConfig('etcd', pki.dir, { etcd: [`127.0.0.1:${etcd.members[0].clientPort}`] });
      proxy = await startProxyProcess(await writeConfig(pki.dir, config));
      // the doc's setup as written; only the proxy's port is this test's
      const setup = docBlock(doc, 'etcd-roles').text.replaceAll('localhost:2379', `localhost:${proxy.port}`);
      const r = await runShell(setup, { cwd: work.dir });
      assert.equal(r.code, 0, `${doc}: the etcd-roles block failed:\n${r.stdout}${r.stderr}`);
    });
    after(async () => { await proxy?.stop(); await etcd?.stop(); });

    test('alice writes and reads her prefix through countersign', async () => {
      const put = await through('alice', ['put', '/alice/config', 'v1']);
      assert.match(put.stdout, /OK/, put.stderr);
      const get = await through('alice', ['get', '/alice/config', '--print-value-only']);
      assert.equal(get.stdout.trim(), 'v1', get.stderr);
    });

    test('bob is denied by etcd\'s own permission check, on alice\'s prefix and anywhere else', async () => {
      for (const key of ['/alice/config', '/bob/notes', '/anywhere']) {
        const put = await through('bob', ['put', key, 'bob was here']);
        assert.notEqual(put.code, 0, `bob wrote ${key}`);
        assert.match(put.stderr, /permission denied/);
      }
      const get = await through('bob', ['get', '/alice/config']);
      assert.match(get.stderr, /permission denied/);
    });

    test('etcd logs its own gateway\'s connections as from an unknown authority, as the docs warn', async () => {
      // the harness runs etcd with --logger zap (JSON); 3.4's default capnslog prints the same fields as text
      const line = /"msg":"rejected connection","remote-addr":"127\.0\.0\.1:\d+".*"error":"tls: failed to verify client certificate: x509: certificate signed by unknown authority"/;
      await waitFor(() => line.test(etcd.members[0].output()), 'etcd\'s "unknown authority" line', 60_000);
    });

    test('alice\'s own certificate, presented to etcd directly, is refused', async () => {
      const r = await runCommand('etcdctl', [
        `--endpoints=${endpoint}`, `--cacert=${pki.dir}/backend-ca.crt`, `--cert=${pki.dir}/alice.crt`, `--key=${pki.dir}/alice.key`,
        '--dial-timeout=5s', '--command-timeout=5s', 'get', '/alice/config',
      ], { timeoutMs: 30_000 });
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.stdout, /v1/);
    });
  });
}
