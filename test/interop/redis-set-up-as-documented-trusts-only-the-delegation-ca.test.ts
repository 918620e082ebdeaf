/**
 * Redis set up as each doc says, against Debian's Redis 7, started as the doc
 * says (`redis-server redis.conf` in the directory holding `certs/`), with
 * only its address changed; countersign runs examples/redis/countersign.yaml.
 * - examples/redis/README.md: the example's redis.conf and the README's
 *   block, `countersign certs init` included, run by sh;
 * - docs/unaware-backends.md: its redis.conf block.
 * `tls-auth-clients yes` with `tls-ca-cert-file` = the delegation CA: a client
 * verified at the edge reads and writes through countersign (redis-cli offers
 * no ALPN; none is negotiated); the same client's own certificate presented to
 * Redis directly is refused, one the delegation CA signed is not. Redis 7 maps
 * no certificate to a user: per-user rights are not the certificate's (the docs
 * say so), so there is no bob-is-refused case here.
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorkdir, writeConfig, startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { commandArgs, commandsBesides, docBlock, runShell } from '../helpers/doc-blocks.js';
import { redisCli, startRedisIn, type Redis } from '../helpers/redis.js';

/** Each doc's way to a Redis: resolves with the work directory and redis-server's arguments. */
const setups: Record<string, () => Promise<{ dir: string; args: string[] }>> = {
  'examples/redis/README.md': async () => {
    const { dir } = await makeWorkdir({ example: 'redis', pki: false });
    const block = docBlock('examples/redis/README.md', 'redis-start');
    const r = await runShell(commandsBesides(block, 'redis-server'), { cwd: dir });
    assert.equal(r.code, 0, `the redis-start block failed:\n${r.stdout}${r.stderr}`);
    return { dir, args: commandArgs(block, 'redis-server') };
  },
  'docs/unaware-backends.md': async () => {
    const { dir } = await makeWorkdir();
    await writeFile(join(dir, 'redis.conf'), docBlock('docs/unaware-backends.md', 'redis-conf').text);
    return { dir, args: ['redis.conf'] };
  },
};

for (const [doc, setup] of Object.entries(setups)) {
  describe(doc, () => {
    let dir: string;
    let certs: string;
    let redis: Redis;
    let proxy: ProxyProcess;

    before(async () => {
      const s = await setup();
      dir = s.dir;
      certs = join(dir, 'certs');
      redis = await startRedisIn({ cwd: dir, args: s.args });
      proxy = await startProxyProcess(await writeConfig(dir, exampleConfig('redis', certs, { redis: [`127.0.0.1:${redis.port}`] }), 'proxy.yaml'));
    });
    after(async () => { await proxy?.stop(); await redis?.stop(); });

    test('alice writes and bob reads through countersign', async () => {
      const set = await redisCli(proxy.port, certs, 'alice', ['SET', 'greeting', 'hello from alice']);
      assert.equal(set.stdout.trim(), 'OK', set.stderr + redis.output());
      const get = await redisCli(proxy.port, certs, 'bob', ['GET', 'greeting']);
      assert.equal(get.stdout.trim(), 'hello from alice', get.stderr);
      const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.upstream === 'redis' && l.outcome === 'closed');
      assert.equal(line.subject, 'CN=alice, O=countersign dev');
    });

    test('alice\'s own certificate, presented to Redis directly, is refused; one from the delegation CA is not', async () => {
      // a certificate the delegation CA signed, as the proxy's minted ones are
      const signed = await runShell([
        'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=direct -keyout certs/direct.key -out direct.csr 2>/dev/null',
        'openssl x509 -req -in direct.csr -CA certs/delegation-ca.crt -CAkey certs/delegation-ca.key -days 1 -out certs/direct.crt 2>/dev/null',
      ], { cwd: dir });
      assert.equal(signed.code, 0, signed.stderr);
      const ok = await redisCli(redis.port, certs, 'direct', ['PING'], `${certs}/backend-ca.crt`);
      assert.equal(ok.stdout.trim(), 'PONG', ok.stderr);
      const r = await redisCli(redis.port, certs, 'alice', ['PING'], `${certs}/backend-ca.crt`);
      assert.doesNotMatch(r.stdout, /PONG/);
      assert.match(r.stderr + r.stdout, /error|closed|reset|failed/i);
    });
  });
}
