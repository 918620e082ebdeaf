/**
 * PostgreSQL through countersign, against Debian's PostgreSQL 15 with
 * `hostssl all all 127.0.0.1/32 cert` and `ssl_ca_file` = the delegation CA:
 * the edge answers libpq's SSLRequest (`edge.starttls: [postgres]`) and the
 * upstream connection sends its own (`upstreams.pg.starttls: postgres`).
 * alice reads her table (what bob may do is
 * postgres-set-up-as-documented-authorizes-by-cn's). A GSSENCRequest is answered `N`,
 * and a PG17-style direct TLS client (ALPN `postgresql`, no SSLRequest) works
 * on the same listener. PostgreSQL is set up as examples/postgres/README.md
 * says, the proxy runs examples/postgres/countersign.yaml.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { makeWorkdir, writeConfig, startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { prepareAsExample, startPostgres, psqlThrough, type Postgres } from '../helpers/postgres.js';
import { tcpClient } from '../helpers/e2e.js';
import { exampleConfig } from '../helpers/examples.js';

let pki: { dir: string };
let pg: Postgres;
let proxy: ProxyProcess;

before(async () => {
  const work = await makeWorkdir({ example: 'postgres', pki: false });
  pki = { dir: join(work.dir, 'certs') };
  pg = await startPostgres({
    prepare: prepareAsExample(work.dir),
    setupSql: `CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
      CREATE TABLE alice_notes (note text); INSERT INTO alice_notes VALUES ('hello from alice''s table');
      GRANT SELECT ON alice_notes TO alice;`,
  });
  // the example's config as it is, pointed at this PostgreSQL
  const config = exampleConfig('postgres', pki.dir, { pg: [`127.0.0.1:${pg.port}`] });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await pg?.stop(); });

test('psql as alice (sslmode=verify-full) reads her table', async () => {
  const r = await psqlThrough(proxy.port, pki.dir, 'alice', 'alice', 'SELECT note FROM alice_notes');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "hello from alice's table");
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.subject === 'CN=alice, O=countersign dev');
  assert.equal(line.mode, 'connection');
});

/** A StartupMessage for protocol 3.0. */
function startup(user: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0postgres\0\0`);
  const b = Buffer.alloc(8);
  b.writeUInt32BE(8 + params.length, 0);
  b.writeUInt32BE(196608, 4);
  return Buffer.concat([b, params]);
}

/** Reads backend messages until ReadyForQuery ('Z') or an ErrorResponse ('E'). */
function readUntilReady(s: TLSSocket): Promise<{ types: string[]; text: string }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const types: string[] = [];
    let text = '';
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5 && buf.length >= 1 + buf.readUInt32BE(1)) {
        const type = String.fromCharCode(buf[0]);
        const body = buf.subarray(5, 1 + buf.readUInt32BE(1));
        types.push(type);
        if (type === 'D' || type === 'E') text += body.toString('latin1');
        buf = buf.subarray(1 + buf.readUInt32BE(1));
        if (type === 'Z' || type === 'E') { s.removeListener('data', onData); resolve({ types, text }); return; }
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

function query(sql: string): Buffer {
  const q = Buffer.from(`${sql}\0`);
  const h = Buffer.alloc(5);
  h[0] = 0x51; // 'Q'
  h.writeUInt32BE(4 + q.length, 1);
  return Buffer.concat([h, q]);
}

function tlsAs(who: string, extra: { socket?: Socket; ALPNProtocols?: string[] }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: readFileSync(`${pki.dir}/edge-ca.crt`),
      cert: readFileSync(`${pki.dir}/${who}.crt`), key: readFileSync(`${pki.dir}/${who}.key`), ...extra,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

test('PG17 direct TLS (ALPN postgresql, no SSLRequest) on the same listener: alice reads her table', async () => {
  const s = await tlsAs('alice', { ALPNProtocols: ['postgresql'] });
  assert.equal(s.alpnProtocol, 'postgresql', 'libpq 17 requires the server to select postgresql');
  s.write(startup('alice'));
  const auth = await readUntilReady(s);
  assert.equal(auth.types[0], 'R', `AuthenticationOk first, got ${auth.types.join(',')} ${auth.text}`);
  assert.equal(auth.types.at(-1), 'Z');
  s.write(query('SELECT note FROM alice_notes'));
  const rows = await readUntilReady(s);
  assert.match(rows.text, /hello from alice's table/);
  s.destroy();
});

test('a GSSENCRequest is answered N, then the SSLRequest S, then TLS as usual', async () => {
  const raw = await tcpClient(proxy.port);
  const answer = () => new Promise<string>((r) => raw.once('data', (d: Buffer) => r(d.toString('latin1'))));
  const n = answer();
  raw.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]));
  assert.equal(await n, 'N');
  const sAnswer = answer();
  raw.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
  assert.equal(await sAnswer, 'S');
  const s = await tlsAs('alice', { socket: raw });
  s.write(startup('alice'));
  const auth = await readUntilReady(s);
  assert.equal(auth.types.at(-1), 'Z', auth.text);
  s.destroy();
});

test('a plaintext startup (sslmode=disable) is refused with a PostgreSQL error, one log line', async () => {
  const raw = await tcpClient(proxy.port);
  const got = new Promise<Buffer>((r) => { const chunks: Buffer[] = []; raw.on('data', (d: Buffer) => chunks.push(d)); raw.once('close', () => r(Buffer.concat(chunks))); });
  raw.write(startup('alice'));
  const b = await got;
  assert.equal(String.fromCharCode(b[0]), 'E');
  assert.match(b.toString('latin1'), /accepts only SSL connections/);
  await proxy.waitForLog((l) => l.outcome === 'handshake-failed' && l.reason === 'ERR_EDGE_PREAMBLE');
});
