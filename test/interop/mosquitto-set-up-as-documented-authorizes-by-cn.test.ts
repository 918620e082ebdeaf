/**
 * Mosquitto set up as each doc says, against Debian's Mosquitto 2.0, started
 * as the doc says (`mosquitto -c mosquitto.conf` in the directory holding it,
 * as root after the doc's `chown mosquitto certs/backend.key`), with only the
 * listener's port changed; countersign runs examples/mosquitto/countersign.yaml.
 * - examples/mosquitto/README.md: the example's mosquitto.conf and acl, and
 *   the README's block, `countersign certs init` included, run by sh;
 * - docs/unaware-backends.md: its mosquitto.conf and acl blocks.
 * Then the broker takes the user from the minted certificate's CN: alice's
 * subscriber receives what alice publishes on alice/# (ALPN `mqtt` or none);
 * bob's publish there is refused by the ACL (an MQTT 5 client is told) and
 * never reaches alice; the broker logs `Denied PUBLISH` only with `log_type all`.
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorkdir, writeConfig, startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { commandArgs, commandsBesides, docBlock, runShell } from '../helpers/doc-blocks.js';
import { mosquittoPub, mosquittoSubscriber, startMosquittoIn, type Mosquitto } from '../helpers/mosquitto.js';
import { writeIssued } from '../helpers/e2e.js';
import { runCommand } from '../helpers/run-command.js';

const asRoot = process.getuid?.() === 0;

/** Each doc's way to a broker: resolves with the work directory and the broker's command line. */
const setups: Record<string, () => Promise<{ dir: string; args: string[] }>> = {
  'examples/mosquitto/README.md': async () => {
    const { dir } = await makeWorkdir({ example: 'mosquitto', pki: false });
    const block = docBlock('examples/mosquitto/README.md', 'mosquitto-start');
    // "Started as any other user, … leave out the chown"
    const commands = commandsBesides(block, 'mosquitto').filter((c) => asRoot || !c.startsWith('chown '));
    const r = await runShell(commands, { cwd: dir });
    assert.equal(r.code, 0, `the mosquitto-start block failed:\n${r.stdout}${r.stderr}`);
    return { dir, args: commandArgs(block, 'mosquitto') };
  },
  'docs/unaware-backends.md': async () => {
    const { dir } = await makeWorkdir();
    await writeFile(join(dir, 'mosquitto.conf'), docBlock('docs/unaware-backends.md', 'mosquitto-conf').text);
    await writeFile(join(dir, 'acl'), docBlock('docs/unaware-backends.md', 'mosquitto-acl').text);
    // the doc: "Started as root, … chown mosquitto certs/backend.key"
    if (asRoot) assert.equal((await runShell('chown mosquitto certs/backend.key', { cwd: dir })).code, 0);
    return { dir, args: ['-c', 'mosquitto.conf'] };
  },
};

for (const [doc, setup] of Object.entries(setups)) {
  describe(doc, () => {
    let dir: string;
    let certs: string;
    let broker: Mosquitto;
    let proxy: ProxyProcess;

    before(async () => {
      const s = await setup();
      dir = s.dir;
      certs = join(dir, 'certs');
      broker = await startMosquittoIn({ cwd: dir, args: s.args });
      proxy = await startProxyProcess(await writeConfig(dir, exampleConfig('mosquitto', certs, { mqtt: [`127.0.0.1:${broker.port}`] }), 'proxy.yaml'));
    });
    after(async () => { await proxy?.stop(); await broker?.stop(); });

    test('alice receives what she publishes on alice/#, with ALPN mqtt or none; the broker saw her CN as her user name', async () => {
      const sub = mosquittoSubscriber(proxy.port, certs, 'alice', 'alice/#', { count: 2, alpn: 'mqtt' });
      await sub.subscribed;
      for (const [message, alpn] of [['up', 'mqtt'], ['still up', undefined]]) {
        const pub = await mosquittoPub(proxy.port, certs, 'alice', 'alice/status', message!, { alpn });
        assert.equal(pub.code, 0, pub.stderr);
      }
      const r = await sub.done;
      assert.match(r.stdout, /^up$/m, r.stderr + broker.output());
      assert.match(r.stdout, /^still up$/m);
      assert.match(broker.output(), /u'alice'/);
    });

    test('bob\'s publish on alice/# is refused by the ACL: an MQTT 5 client is told, and alice never receives it', async () => {
      const sub = mosquittoSubscriber(proxy.port, certs, 'alice', 'alice/#', { count: 1, timeoutS: 3 });
      await sub.subscribed;
      const v5 = await mosquittoPub(proxy.port, certs, 'bob', 'alice/status', 'bob was here', { mqttv5: true });
      assert.match(v5.stderr, /Publish 1 failed: Not authorized/, v5.stdout + v5.stderr);
      const v311 = await mosquittoPub(proxy.port, certs, 'bob', 'alice/status', 'bob again');
      assert.equal(v311.code, 0, 'MQTT 3.1.1 has no refusal: the broker acknowledges and drops');
      const r = await sub.done;
      assert.doesNotMatch(r.stdout, /bob/);
      assert.match(broker.output(), /u'bob'/, 'bob connected as user bob');
      assert.doesNotMatch(broker.output(), /Denied PUBLISH/, 'not at the default log level, as the docs say');
    });
  });
}

test('with log_type all added, as the docs say, the broker logs Denied PUBLISH', async () => {
  const { dir, pki } = await makeWorkdir({ example: 'mosquitto' });
  await appendFile(join(dir, 'mosquitto.conf'), '\nlog_type all\n');
  if (asRoot) assert.equal((await runShell('chown mosquitto certs/backend.key', { cwd: dir })).code, 0);
  const broker = await startMosquittoIn({ cwd: dir, args: ['-c', 'mosquitto.conf'] });
  try {
    // bob as the proxy would present him: CN=bob from the delegation CA, straight to the broker
    await writeIssued(pki.dir, 'bob-minted', { subject: 'CN=bob', issuer: pki.pki.delegationCa, usage: 'client' });
    const r = await runCommand('mosquitto_pub', [
      '-h', 'localhost', '-p', String(broker.port), '--cafile', `${pki.dir}/backend-ca.crt`, '--cert', `${pki.dir}/bob-minted.crt`, '--key', `${pki.dir}/bob-minted.key`,
      '-t', 'alice/status', '-m', 'bob was here', '-q', '1',
    ], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(broker.output(), /Denied PUBLISH from [^\n]*'alice\/status'/);
    assert.match(await readFile(join(dir, 'mosquitto.conf'), 'utf8'), /^acl_file acl$/m);
  } finally {
    await broker.stop();
  }
});
