/**
 * Host is canonicalized before routing (lower case, no trailing dot, no
 * default port): `Host: admin.example.com.` is the admin route's host, and its
 * access rule holds. A route bound by `match.sni` is not reachable from a
 * connection made with another SNI by naming it in Host: 421 Misdirected
 * Request, as nginx and Envoy answer. Over HTTP/1.1 and HTTP/2.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { readFileSync } from 'node:fs';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { tlsClient, readUntilClose } from '../helpers/e2e.js';

let pki: TestPki;
let backend: HttpsBackend;
let admin: HttpsBackend;
let secret: HttpsBackend;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  [backend, admin, secret] = await Promise.all([startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir }), startHttpsBackend({ pkiDir: pki.dir })]);
  const config = baseConfig(pki.dir, backend.port);
  const up = (port: number) => ({ servers: [`127.0.0.1:${port}`], ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal' });
  config.upstreams = { backend: up(backend.port), admin: up(admin.port), secret: up(secret.port) };
  config.routes = [
    { upstream: 'secret', mode: 'http', match: { sni: 'secret.example.com' } },
    { upstream: 'admin', mode: 'http', match: { host: 'admin.example.com' }, allow: { cn: ['alice'] } },
    { upstream: 'backend', mode: 'http' },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await Promise.all([backend, admin, secret].map((b) => b?.close())); });

const anyName = { checkServerIdentity: () => undefined };

async function h1(who: string, host: string, servername = 'localhost'): Promise<{ status: number; head: string }> {
  const s = await tlsClient(proxy.port, pki.dir, who, { ALPNProtocols: ['http/1.1'], servername, ...anyName });
  const done = readUntilClose(s);
  s.write(`GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const { data } = await done;
  return { status: Number(data.split(' ')[1]), head: data.split('\r\n\r\n')[0].toLowerCase() };
}

async function h2(who: string, authority: string, servername = 'localhost'): Promise<{ status: number; headers: Record<string, unknown> }> {
  const client = h2connect(`https://127.0.0.1:${proxy.port}`, {
    servername, ca: readFileSync(`${pki.dir}/edge-ca.crt`), cert: readFileSync(`${pki.dir}/${who}.crt`), key: readFileSync(`${pki.dir}/${who}.key`), ...anyName,
  });
  try {
    return await new Promise((resolve, reject) => {
      const req = client.request({ ':path': '/x', ':authority': authority });
      req.on('response', (h) => { resolve({ status: Number(h[':status']), headers: h }); req.resume(); });
      req.on('error', reject);
      req.end();
    });
  } finally {
    client.close();
  }
}

for (const host of ['admin.example.com.', 'ADMIN.Example.Com', 'admin.example.com:443', 'admin.example.com.:443']) {
  test(`HTTP/1.1: Host ${host} is the admin route's host: bob is refused, alice served there`, async () => {
    const seen = admin.requests.length;
    assert.equal((await h1('bob', host)).status, 403);
    assert.equal(admin.requests.length, seen);
    assert.equal((await h1('alice', host)).status, 200);
    assert.equal(admin.requests.at(-1)!.headers.host, 'admin.example.com', 'the canonical Host is forwarded');
  });

  test(`HTTP/2: :authority ${host} is the admin route's host: bob is refused, alice served there`, async () => {
    assert.equal((await h2('bob', host)).status, 403);
    assert.equal((await h2('alice', host)).status, 200);
  });
}

test('a Host that is not a host name is refused with 400', async () => {
  assert.equal((await h1('alice', 'admin.example.com..')).status, 400);
  assert.equal((await h1('alice', 'a b')).status, 400);
  assert.equal((await h2('alice', 'admin..example.com')).status, 400);
});

test('HTTP/1.1: the SNI-bound route answers 421 to a connection made for another name, with the own-answer headers', async () => {
  const seen = secret.requests.length;
  for (const host of ['secret.example.com', 'SECRET.example.com.', 'secret.example.com:443']) {
    const r = await h1('alice', host);
    assert.equal(r.status, 421, host);
    assert.match(r.head, /^strict-transport-security: max-age=31536000$/m);
    assert.match(r.head, /^cache-control: no-store$/m);
  }
  assert.equal(secret.requests.length, seen, 'nothing reached the SNI-bound upstream');
  // the connection made for its name is served
  assert.equal((await h1('alice', 'secret.example.com', 'secret.example.com')).status, 200);
  assert.equal(secret.requests.length, seen + 1);
});

test('HTTP/2: the SNI-bound route answers 421 to a connection made for another name', async () => {
  const seen = secret.requests.length;
  assert.equal((await h2('alice', 'secret.example.com')).status, 421);
  assert.equal((await h2('alice', 'secret.example.com.')).status, 421);
  assert.equal(secret.requests.length, seen);
  assert.equal((await h2('alice', 'secret.example.com', 'secret.example.com')).status, 200);
});

test('a request logs misdirected as its outcome', async () => {
  const mark = proxy.logs.length;
  await h1('alice', 'secret.example.com');
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'request' && l.status === 421);
  assert.equal(line.outcome, 'misdirected');
});
