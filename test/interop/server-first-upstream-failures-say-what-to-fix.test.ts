/**
 * Where the server speaks first, the upstream is dialled before the client's
 * handshake; what goes wrong there is diagnosed as `check --connect` does,
 * and `check --connect` speaks the same preambles (it reads the greeting and
 * sends an SSLRequest of its own). Three real servers behind three
 * listeners: a MariaDB whose ssl_ca is not the delegation CA (it refuses the
 * minted certificate: TLS alert unknown_ca), a MariaDB without TLS (its
 * greeting offers no CLIENT_SSL; the client gets an ERR packet), and a NATS
 * server whose ca_file is not the delegation CA. The log line of each and the
 * line `check --connect` prints name the same failure and the key to change.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, runCli, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startMariadb, mariadbDoc, mariadbThrough, type Mariadb } from '../helpers/mariadb.js';
import { startNats, natsDocConf, type NatsServer } from '../helpers/nats.js';
import { upstreamTo } from '../helpers/e2e.js';
import { readFileSync } from 'node:fs';
import { connect } from 'nats';

let pki: TestPki;
let strictMaria: Mariadb;
let plainMaria: Mariadb;
let strictNats: NatsServer;
let proxy: ProxyProcess;
let file: string;
let ports: Record<string, number>;

before(async () => {
  pki = await makePki();
  const otherCa = (text: string) => text.replace(/delegation-ca\.crt/g, 'client-ca.crt');
  // one after the other: each is stopped by after() even when a later one fails to start
  strictMaria = await startMariadb({ pkiDir: pki.dir, cnf: otherCa(mariadbDoc.cnf(pki.dir)) });
  // no ssl_* keys at all: MariaDB 10.11 then offers no TLS
  plainMaria = await startMariadb({ pkiDir: pki.dir, cnf: '', setupSql: 'CREATE USER alice@\'%\';' });
  strictNats = await startNats({ pkiDir: pki.dir, conf: otherCa(natsDocConf(pki.dir)) });
  const config = baseConfig(pki.dir, 1) as Record<string, any>;
  config.listeners = [
    { name: 'strict-maria', listen: '127.0.0.1:0', starttls: 'mysql' },
    { name: 'plain-maria', listen: '127.0.0.1:0', starttls: 'mysql' },
    { name: 'strict-nats', listen: '127.0.0.1:0', starttls: 'nats' },
  ];
  config.upstreams = {
    'strict-maria': upstreamTo(pki.dir, strictMaria.port, { starttls: 'mysql' }),
    'plain-maria': upstreamTo(pki.dir, plainMaria.port, { starttls: 'mysql' }),
    'strict-nats': upstreamTo(pki.dir, strictNats.port, { starttls: 'nats' }),
  };
  config.routes = config.listeners.map((l: { name: string }) => ({ upstream: l.name, match: { listener: l.name } }));
  file = await writeConfig(pki.dir, config);
  proxy = await startProxyProcess(file);
  const listening = await proxy.waitForLog((l) => l.msg === 'countersign listening');
  ports = Object.fromEntries(Object.entries(listening.listeners as Record<string, string>).map(([n, a]) => [n, Number(a.split(':').pop())]));
});
after(async () => { await proxy?.stop(); await Promise.all([strictMaria?.stop(), plainMaria?.stop(), strictNats?.stop()]); });

test('a MariaDB that refuses the minted certificate: the log line and check --connect say so, naming delegation.ca', async () => {
  const r = await mariadbThrough(ports['strict-maria'], pki.dir, 'alice', 'alice', 'SELECT 1');
  assert.notEqual(r.code, 0);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'strict-maria');
  assert.equal(line.failure, 'client-certificate-refused', JSON.stringify(line));
  assert.equal(line.fix, 'delegation.ca');
  assert.match(String(line.reason), /upstream strict-maria server 127\.0\.0\.1:\d+: it refused the client certificate countersign presented, a certificate minted by the delegation CA "CN=countersign dev delegation CA" \(TLS alert unknown_ca\)/);
  assert.match(strictMaria.output(), /Aborted connection \d+ to db: 'unconnected' user: 'unauthenticated'/, 'no one logged in');
});

test('a MariaDB without TLS: the client gets an ERR packet, the log says which server setting is missing', async () => {
  const r = await mariadbThrough(ports['plain-maria'], pki.dir, 'alice', 'alice', 'SELECT 1');
  assert.notEqual(r.code, 0);
  // the client asked for TLS, so it says it cannot vouch for an error sent before it: the message is ours
  assert.match(r.stderr, /1105 - countersign: the database is unavailable/);
  const line = await proxy.waitForLog((l) => l.listener === 'plain-maria' && l.outcome === 'upstream-unavailable');
  assert.equal(line.failure, 'protocol');
  assert.match(String(line.reason), /does not offer TLS \(no CLIENT_SSL in its handshake\): set ssl_cert, ssl_key and ssl_ca in the server's my\.cnf/);
});

test('a NATS server that refuses the minted certificate: the log line names delegation.ca', async () => {
  const read = (f: string) => readFileSync(`${pki.dir}/${f}`, 'utf8');
  await assert.rejects(connect({
    servers: `localhost:${ports['strict-nats']}`, timeout: 10_000, reconnect: false,
    tls: { ca: read('edge-ca.crt'), cert: read('alice.crt'), key: read('alice.key') },
  }));
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.listener === 'strict-nats');
  assert.equal(line.failure, 'client-certificate-refused', JSON.stringify(line));
  assert.equal(line.fix, 'delegation.ca');
  assert.match(String(line.reason), /\(TLS alert bad_certificate\)/, 'Go\'s alert, named plainly');
});

test('check --connect speaks both preambles and says the same for each server', async () => {
  const r = await runCli(['check', '--connect', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^FAIL {2}strict-maria 127\.0\.0\.1:\d+: .*refused the client certificate countersign presented.*\[client-certificate-refused; change: delegation\.ca\]$/m);
  assert.match(r.stderr, /^FAIL {2}plain-maria 127\.0\.0\.1:\d+: .*does not offer TLS \(no CLIENT_SSL in its handshake\).*\[protocol; change: the server's ssl_cert \/ ssl_key \/ ssl_ca\]$/m);
  assert.match(r.stderr, /^FAIL {2}strict-nats 127\.0\.0\.1:\d+: .*refused the client certificate countersign presented.*\[client-certificate-refused; change: delegation\.ca\]$/m);
  assert.match(r.stderr, /3 upstream connections failed/);
});
