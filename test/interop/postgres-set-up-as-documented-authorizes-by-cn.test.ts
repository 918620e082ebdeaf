/**
 * PostgreSQL set up as each doc says, against Debian's PostgreSQL 15 (a fresh
 * cluster; only its address and the harness's socket are the test's):
 * - examples/postgres/README.md: its server block (certificates into the data
 *   directory, the example's postgresql.conf appended, its pg_hba.conf) run as
 *   written by sh;
 * - docs/postgres.md: its postgresql.conf and pg_hba.conf blocks, with the
 *   files copied under the names the doc gives.
 * The roles and grants are docs/postgres.md's block (the README points
 * there); countersign runs examples/postgres/countersign.yaml. PostgreSQL
 * takes the database user from the minted certificate's CN: alice reads her
 * table, bob is denied by the grant, bob asking for user=alice is refused by
 * PostgreSQL's own certificate check.
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorkdir, writeConfig, startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { docBlock } from '../helpers/doc-blocks.js';
import { installForServer, prepareAsExample, psqlThrough, startPostgres, type Postgres } from '../helpers/postgres.js';

const roles = () => docBlock('docs/postgres.md', 'postgres-roles').text;

/** Each doc's way to a configured cluster: resolves with the work directory and the `prepare` step. */
const setups: Record<string, () => Promise<{ dir: string; prepare: (dataDir: string) => Promise<void> }>> = {
  'examples/postgres/README.md': async () => {
    const { dir } = await makeWorkdir({ example: 'postgres', pki: false });
    return { dir, prepare: prepareAsExample(dir) };
  },
  'docs/postgres.md': async () => {
    const { dir } = await makeWorkdir();
    return {
      dir,
      prepare: async (data) => {
        installForServer(join(dir, 'certs/backend.crt'), data, 'server.crt');
        installForServer(join(dir, 'certs/backend.key'), data, 'server.key');
        installForServer(join(dir, 'certs/delegation-ca.crt'), data, 'delegation-ca.crt');
        appendFileSync(join(data, 'postgresql.conf'), `\n${docBlock('docs/postgres.md', 'postgres-conf').text}`);
        // the harness's own line (setup SQL over the Unix socket), then the doc's for TCP clients
        writeFileSync(join(data, 'pg_hba.conf'), `local all postgres trust\n${docBlock('docs/postgres.md', 'postgres-hba').text}`);
      },
    };
  },
};

for (const [doc, setup] of Object.entries(setups)) {
  describe(doc, () => {
    let certs: string;
    let pg: Postgres;
    let proxy: ProxyProcess;

    before(async () => {
      const s = await setup();
      certs = join(s.dir, 'certs');
      pg = await startPostgres({ prepare: s.prepare, setupSql: roles() });
      const written = await pg.sql(`INSERT INTO alice_notes VALUES ('hello from alice''s table')`);
      assert.equal(written.code, 0, written.stderr);
      proxy = await startProxyProcess(await writeConfig(s.dir, exampleConfig('postgres', certs, { pg: [`127.0.0.1:${pg.port}`] }), 'proxy.yaml'));
    });
    after(async () => { await proxy?.stop(); await pg?.stop(); });

    test('psql as alice (sslmode=verify-full) reads her table', async () => {
      const r = await psqlThrough(proxy.port, certs, 'alice', 'alice', 'SELECT note FROM alice_notes');
      assert.equal(r.code, 0, r.stderr + pg.output());
      assert.equal(r.stdout.trim(), "hello from alice's table");
    });

    test('psql as bob is authenticated as bob and denied by the grant', async () => {
      const r = await psqlThrough(proxy.port, certs, 'bob', 'bob', 'SELECT note FROM alice_notes');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /permission denied for table alice_notes/);
    });

    test('bob asking for user=alice is refused by PostgreSQL\'s certificate check', async () => {
      const r = await psqlThrough(proxy.port, certs, 'bob', 'alice', 'SELECT 1');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /certificate authentication failed for user "alice"/);
      assert.match(pg.output(), /provided user name \(alice\) and authenticated user name \(bob\) do not match/);
    });
  });
}
