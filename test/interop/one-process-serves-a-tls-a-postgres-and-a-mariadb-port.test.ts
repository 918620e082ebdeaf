/**
 * Every database on its own port, from one countersign process: `listen` for
 * TLS-first clients (a TLS backend), a `starttls: postgres` listener in front
 * of PostgreSQL 15 and a `starttls: mysql` listener in front of MariaDB 10.11,
 * one certificate store and client CA for all three. alice uses all three at
 * once — psql, mariadb --ssl and a TLS client — and each server sees her
 * (PostgreSQL and MariaDB by the minted certificate's subject, the TLS backend
 * by the delegated identity).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installForServer, startPostgres, psqlThrough, type Postgres } from '../helpers/postgres.js';
import { startMariadb, mariadbThrough, type Mariadb } from '../helpers/mariadb.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { identityOfFile, tlsClient, upstreamTo } from '../helpers/e2e.js';
import { echo } from '../helpers/edge-tls.js';

let pki: TestPki;
let pg: Postgres;
let maria: Mariadb;
let tlsBackend: TlsBackend;
let proxy: ProxyProcess;
let ports: Record<string, number>;

before(async () => {
  pki = await makePki();
  // one after the other: each is stopped by after() even when a later one fails to start
  pg = await startPostgres({
    // TLS with the backend certificate, the delegation CA as the client CA, `cert` auth (docs/postgres.md)
    prepare: async (data) => {
      installForServer(`${pki.dir}/backend.crt`, data, 'server.crt');
      installForServer(`${pki.dir}/backend.key`, data, 'server.key');
      installForServer(`${pki.dir}/delegation-ca.crt`, data, 'delegation-ca.crt');
      appendFileSync(join(data, 'postgresql.conf'), "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'delegation-ca.crt'\n");
      writeFileSync(join(data, 'pg_hba.conf'), 'local all postgres trust\nhostssl all all 127.0.0.1/32 cert\n');
    },
    setupSql: `CREATE ROLE alice LOGIN; CREATE TABLE notes (note text); INSERT INTO notes VALUES ('pg says hi'); GRANT SELECT ON notes TO alice;`,
  });
  maria = await startMariadb({ pkiDir: pki.dir });
  tlsBackend = await startTlsBackend({ pkiDir: pki.dir });
  const config = baseConfig(pki.dir, tlsBackend.port) as Record<string, any>;
  config.listeners = [
    { name: 'pg', listen: '127.0.0.1:0', starttls: 'postgres' },
    { name: 'mysql', listen: '127.0.0.1:0', starttls: 'mysql' },
  ];
  config.upstreams = {
    keys: upstreamTo(pki.dir, tlsBackend.port),
    pg: upstreamTo(pki.dir, pg.port, { starttls: 'postgres' }),
    maria: upstreamTo(pki.dir, maria.port, { starttls: 'mysql' }),
  };
  config.routes = [
    { upstream: 'keys', match: { listener: 'main' } },
    { upstream: 'pg', match: { listener: 'pg' } },
    { upstream: 'maria', match: { listener: 'mysql' } },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  const listening = await proxy.waitForLog((l) => l.msg === 'countersign listening');
  ports = Object.fromEntries(Object.entries(listening.listeners as Record<string, string>).map(([n, a]) => [n, Number(a.split(':').pop())]));
});
after(async () => { await proxy?.stop(); await Promise.all([pg?.stop(), maria?.stop(), tlsBackend?.close()]); });

test('alice on the TLS, PostgreSQL and MariaDB ports at once, each server seeing alice', async () => {
  const viaTls = (async () => {
    const s = await tlsClient(ports.main, pki.dir, 'alice');
    const back = await echo(s, 'key please');
    s.destroy();
    return back;
  })();
  const [tls, psql, mariadb] = await Promise.all([
    viaTls,
    psqlThrough(ports.pg, pki.dir, 'alice', 'alice', 'SELECT current_user, note FROM notes'),
    mariadbThrough(ports.mysql, pki.dir, 'alice', 'alice', 'SELECT CURRENT_USER(), note FROM app.alice_notes'),
  ]);
  assert.equal(tls, 'key please');
  assert.equal(tlsBackend.connections[0].identity, identityOfFile(pki.dir, 'alice'), 'the delegated identity of alice');
  assert.equal(psql.code, 0, psql.stderr);
  assert.equal(psql.stdout.trim(), 'alice|pg says hi');
  assert.equal(mariadb.code, 0, mariadb.stderr);
  assert.equal(mariadb.stdout.trim(), "alice@%\thello from alice's table");
  for (const listener of ['main', 'pg', 'mysql']) {
    const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === listener);
    assert.equal(line.outcome, 'closed', JSON.stringify(line));
    assert.equal(line.subject, 'CN=alice, O=countersign dev');
  }
});
