/**
 * MariaDB through countersign, against Debian's MariaDB 10.11 configured as
 * docs/unaware-backends.md says (its my.cnf block: TLS, the delegation CA as
 * its only client CA; its users block: `REQUIRE SUBJECT … AND ISSUER
 * '/CN=<delegation CA>'`; examples/mariadb's my.cnf and users.sql are those
 * blocks, checked here), the proxy
 * running examples/mariadb/countersign.yaml (a `starttls: mysql` listener).
 * The server greets first: countersign relays its greeting (with the nonce),
 * the client's SSLRequest starts TLS with the client, and the minted
 * certificate opens TLS to the server. alice logs in as alice and reads her
 * table (`mariadb --ssl` and the mariadb npm client), bob logs in as bob and is
 * refused her table, bob asking for user alice is refused by MariaDB's subject
 * check, a client that skips TLS gets MySQL's own error packet, and a client
 * the edge refuses leaves no connection open on the server.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createConnection } from 'mariadb';
import { makePki, writeConfig, startProxyProcess, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startMariadb, mariadbDoc, mariadbExampleFile, mariadbThrough, type Mariadb } from '../helpers/mariadb.js';
import { exampleConfig } from '../helpers/examples.js';
import { logsSince, writeClientCertificates } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let maria: Mariadb;
let proxy: ProxyProcess;
let port: number;

before(async () => {
  pki = await makePki();
  await writeClientCertificates(pki);
  maria = await startMariadb({ pkiDir: pki.dir });
  const config = exampleConfig('mariadb', pki.dir, { maria: [`127.0.0.1:${maria.port}`] });
  config.listeners[0].listen = '127.0.0.1:0';
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
  const listening = await proxy.waitForLog((l) => l.msg === 'countersign listening');
  port = Number(String((listening.listeners as Record<string, string>).mysql).split(':').pop());
});
after(async () => { await proxy?.stop(); await maria?.stop(); });

test('mariadb --ssl as alice logs in as alice and reads her table', async () => {
  const r = await mariadbThrough(port, pki.dir, 'alice', 'alice', "SELECT CURRENT_USER(), note FROM app.alice_notes");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "alice@%\thello from alice's table");
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'mysql' && l.subject === 'CN=alice, O=countersign dev');
  assert.equal(line.upstream, 'maria');
  assert.equal(line.outcome, "closed", JSON.stringify(line));
});

test('bob logs in as bob and is refused alice\'s table', async () => {
  const who = await mariadbThrough(port, pki.dir, 'bob', 'bob', 'SELECT CURRENT_USER()');
  assert.equal(who.code, 0, who.stderr);
  assert.equal(who.stdout.trim(), 'bob@%');
  const r = await mariadbThrough(port, pki.dir, 'bob', 'bob', 'SELECT note FROM app.alice_notes');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ERROR 1142 .*SELECT command denied to user 'bob'@'[^']*' for table `app`\.`alice_notes`/);
});

test('bob asking for user alice is refused by MariaDB\'s certificate subject check', async () => {
  const r = await mariadbThrough(port, pki.dir, 'bob', 'alice', 'SELECT 1');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ERROR 1045 .*Access denied for user 'alice'/);
});

test('the mariadb npm client (its own SSLRequest) as alice reads her table', async () => {
  const read = (f: string) => readFileSync(`${pki.dir}/${f}`);
  const conn = await createConnection({
    host: 'localhost', port, user: 'alice', connectTimeout: 10_000,
    ssl: { ca: read('edge-ca.crt'), cert: read('alice.crt'), key: read('alice.key') },
  });
  try {
    const rows = await conn.query('SELECT CURRENT_USER() AS who, note FROM app.alice_notes');
    assert.deepEqual([...rows].map((r: { who: string; note: string }) => [r.who, r.note]), [['alice@%', "hello from alice's table"]]);
  } finally {
    await conn.end();
  }
});

test('a client that skips TLS gets MySQL\'s own error packet, and one log line', async () => {
  const mark = proxy.logs.length;
  const r = await mariadbThrough(port, pki.dir, undefined, 'alice', 'SELECT 1', ['--skip-ssl']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ERROR 3159 \(08004\).*insecure transport.*countersign accepts only TLS/);
  const line = await proxy.waitForLog((l) => l.outcome === 'handshake-failed' && l.listener === 'mysql' && proxy.logs.indexOf(l) >= mark);
  assert.equal(line.reason, 'ERR_EDGE_PREAMBLE');
  assert.match(String(line.detail), /without asking for TLS/);
  // every line the proxy wrote for it by now (a SIGUSR1 barrier), not only those written before the awaited one
  const lines = await logsSince(proxy, mark);
  assert.equal(lines.filter((l) => l.msg !== 'connection').length, 1, JSON.stringify(lines));
});

test('a client the edge refuses is refused as on any listener, and its server connection is closed', async () => {
  const threads = async () => Number((await maria.sql("SHOW STATUS LIKE 'Threads_connected'")).stdout.trim().split(/\s+/).pop());
  const baseline = await threads();
  const r = await mariadbThrough(port, pki.dir, 'stranger', 'alice', 'SELECT 1');
  assert.notEqual(r.code, 0);
  await proxy.waitForLog((l) => l.msg === 'client refused' && l.listener === 'mysql' && l.reason === 'unknown CA');
  await waitFor(async () => (await threads()) <= baseline, 'the dialled server connection is closed');
});

test('examples/mariadb\'s my.cnf and users.sql are the docs\' blocks this test runs', () => {
  assert.equal(mariadbExampleFile('my.cnf'), mariadbDoc.cnf('certs'));
  assert.equal(mariadbExampleFile('users.sql'), mariadbDoc.users());
});
