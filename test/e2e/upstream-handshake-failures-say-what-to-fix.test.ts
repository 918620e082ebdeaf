/**
 * When the handshake with an upstream fails, what the operator reads names the
 * server, the name checked, the names and issuer of the certificate the server
 * really has, and the config key to change — in the proxy's log line for the
 * client's connection, and in `countersign check --connect`, which tries each
 * server once and exits 1 when one fails. One real node:tls server per kind of
 * failure: a certificate for another name, from an unknown CA, expired; a
 * server that does not trust the delegation CA (TLS 1.3: its alert arrives
 * after the handshake); one that speaks only TLS 1.2; one that refuses the
 * ALPN protocol configured. A good server is ok with the ALPN it speaks.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server, type TlsOptions } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, CLI, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { trackSockets } from '../helpers/node-backend.js';
import { readUntilClose, tlsClient, writeIssued } from '../helpers/e2e.js';
import { runCommand } from '../helpers/run-command.js';
import { startOpensslServer, type OpensslServer } from '../helpers/openssl-server.js';
import { issueCertificate } from '../../src/pki/dev/index.js';

let pki: TestPki;
let proxy: ProxyProcess;
let configFile: string;
let openssl: OpensslServer;
const servers: Server[] = [];
const tracked: { destroyAll(): void }[] = [];
const ports: Record<string, number> = {};
const day = 86400_000;

async function serve(name: string, o: TlsOptions): Promise<void> {
  const s = createServer({ minVersion: 'TLSv1.2', ...o }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', () => socket.end('hello\n'));
  });
  s.on('tlsClientError', () => {});
  tracked.push(trackSockets(s));
  servers.push(s);
  ports[name] = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
}

const KINDS = ['good', 'mismatch', 'unknownca', 'expired', 'noclientca', 'tls12', 'alpn', 'silentnode'] as const;

before(async () => {
  pki = await makePki();
  const f = (n: string) => readFileSync(pki.file(n));
  const dir = await mkdtemp(`${pki.dir}/servers-`);
  const otherCa = await issueCertificate({ subject: 'CN=some other CA, O=Elsewhere', ca: true });
  const backendCa = pki.pki.backendCa;
  const other = await writeIssued(dir, 'other', { subject: 'CN=other.internal', issuer: backendCa, usage: 'server', dnsNames: ['other.internal', 'kv.internal'] });
  const stranger = await writeIssued(dir, 'stranger', { subject: 'CN=backend.internal', issuer: otherCa, usage: 'server', dnsNames: ['backend.internal'] });
  const expired = await writeIssued(dir, 'expired', { subject: 'CN=backend.internal', issuer: backendCa, usage: 'server', dnsNames: ['backend.internal'], notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
  const good = { cert: f('backend.crt'), key: f('backend.key') };
  const trustsDelegation = { ca: f('delegation-ca.crt'), requestCert: true, rejectUnauthorized: true };
  await serve('good', { ...good, ...trustsDelegation, ALPNProtocols: ['http/1.1'] });
  await serve('mismatch', { cert: other.certPem, key: other.keyPem, ...trustsDelegation });
  await serve('unknownca', { cert: stranger.certPem, key: stranger.keyPem, ...trustsDelegation });
  await serve('expired', { cert: expired.certPem, key: expired.keyPem, ...trustsDelegation });
  // trusts only some other CA's client certificates, not the delegation CA: OpenSSL answers with an alert,
  // a Node.js server closes without one (only check --connect, which sends nothing, can tell that one)
  await writeFile(`${dir}/other-ca.crt`, otherCa.certPem);
  openssl = await startOpensslServer({ cert: pki.file('backend.crt'), key: pki.file('backend.key'), caFile: `${dir}/other-ca.crt` });
  ports.noclientca = openssl.port;
  await serve('silentnode', { ...good, ca: otherCa.certPem, requestCert: true, rejectUnauthorized: true });
  await serve('tls12', { ...good, ...trustsDelegation, maxVersion: 'TLSv1.2' });
  await serve('alpn', { ...good, ...trustsDelegation, ALPNProtocols: ['h2'] });

  const config = baseConfig(pki.dir, ports.good) as Record<string, any>;
  config.upstreams = Object.fromEntries(KINDS.map((k) => [k, {
    servers: [`127.0.0.1:${ports[k]}`], ca: `${pki.dir}/backend-ca.crt`, servername: 'backend.internal',
    ...(k === 'alpn' ? { alpn: ['http/1.1'] } : {}),
  }]));
  config.routes = KINDS.map((k) => ({ upstream: k, mode: 'connection', match: { sni: `${k}.test` } }));
  config.routes.push({ upstream: 'mismatch', mode: 'http', match: { sni: 'mismatch-http.test' } });
  config.routes.push({ upstream: 'noclientca', mode: 'http', match: { sni: 'noclientca-http.test' } });
  configFile = await writeConfig(pki.dir, config);
  proxy = await startProxyProcess(configFile);
});

after(async () => {
  await proxy?.stop();
  await openssl?.stop();
  for (const t of tracked) t.destroyAll();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** What each failure must say: its kind, the key to change, and what the certificate really carries. */
const EXPECT: Record<Exclude<typeof KINDS[number], 'good' | 'silentnode'>, { failure: string; fix: string; names?: RegExp; issuer?: RegExp; text: RegExp }> = {
  mismatch: { failure: 'name-mismatch', fix: 'upstreams.mismatch.servername', names: /DNS:other\.internal.*DNS:kv\.internal/, issuer: /countersign dev backend CA/, text: /"backend\.internal".*other\.internal/ },
  unknownca: { failure: 'unknown-issuer', fix: 'upstreams.unknownca.ca', names: /DNS:backend\.internal/, issuer: /some other CA/, text: /some other CA.*not trusted by upstreams\.unknownca\.ca/ },
  expired: { failure: 'expired', fix: 'the certificate of 127.0.0.1:', issuer: /countersign dev backend CA/, text: /expired at \d{4}-/ },
  noclientca: { failure: 'client-certificate-refused', fix: 'delegation.ca', text: /refused the client certificate.*delegation CA "CN=countersign dev delegation CA".*alert unknown_ca.*delegation\.ca\.cert/ },
  tls12: { failure: 'protocol', fix: 'upstreams.tls12.minVersion', text: /no TLS version in common.*minVersion: TLSv1\.2/ },
  alpn: { failure: 'alpn', fix: 'upstreams.alpn.alpn', text: /no_application_protocol|answered/ },
};

for (const [kind, e] of Object.entries(EXPECT)) {
  test(`${kind}: the connection's log line names the server, the name checked, the certificate and the key to change`, async () => {
    const client = await tlsClient(proxy.port, pki.dir, 'alice', { servername: `${kind}.test`, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
    const closed = readUntilClose(client);
    client.write('ping\n');
    const r = await closed;
    assert.doesNotMatch(r.data, /hello/, 'nothing of the upstream reached the client');
    const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.upstream === kind && l.outcome !== 'closed', 20_000);
    assert.equal(line.failure, e.failure, JSON.stringify(line));
    assert.ok(String(line.fix).startsWith(e.fix), JSON.stringify(line));
    assert.match(String(line.reason), e.text);
    assert.match(String(line.reason), new RegExp(`127\\.0\\.0\\.1:${ports[kind]}`), 'the server is named');
    if (kind !== 'alpn') assert.equal(line.servername, 'backend.internal');
    if (e.names) assert.match(JSON.stringify(line.certNames), e.names);
    if (e.issuer) assert.match(String(line.certIssuer), e.issuer);
  });
}

test('http mode: the 502 request\'s log line carries the same diagnosis', async () => {
  const client = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'mismatch-http.test', checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
  const closed = readUntilClose(client);
  client.write('GET / HTTP/1.1\r\nhost: mismatch-http.test\r\nconnection: close\r\n\r\n');
  assert.match((await closed).data, /^HTTP\/1\.1 502/);
  const line = await proxy.waitForLog((l) => l.msg === 'request' && l.upstream === 'mismatch', 20_000);
  assert.equal(line.failure, 'name-mismatch');
  assert.equal(line.fix, 'upstreams.mismatch.servername');
  assert.equal(line.server, `127.0.0.1:${ports.mismatch}`);
  assert.match(String(line.reason), /"backend\.internal".*DNS:other\.internal/);
});

test('http mode: a backend refusing the minted certificate after a TLS 1.3 handshake is diagnosed too', async () => {
  const client = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'noclientca-http.test', checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
  const closed = readUntilClose(client);
  client.write('GET / HTTP/1.1\r\nhost: noclientca-http.test\r\nconnection: close\r\n\r\n');
  assert.match((await closed).data, /^HTTP\/1\.1 502/);
  const line = await proxy.waitForLog((l) => l.msg === 'request' && l.upstream === 'noclientca', 20_000);
  assert.equal(line.failure, 'client-certificate-refused', JSON.stringify(line));
  assert.equal(line.fix, 'delegation.ca');
});

test('the good server forwards, and its connection logs no failure', async () => {
  const client = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'good.test', checkServerIdentity: () => undefined });
  const closed = readUntilClose(client);
  client.write('ping\n');
  const r = await closed;
  assert.match(r.data, /hello/);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.upstream === 'good', 20_000);
  assert.equal(line.outcome, 'closed');
  assert.equal(line.failure, undefined);
});

test('check --connect prints one line per server: ok with its ALPN, or the diagnosis; exit 1', async (t) => {
  const r = await runCommand(process.execPath, [CLI, 'check', '--connect', configFile], { timeoutMs: 60_000 });
  t.diagnostic(r.stdout + r.stderr);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = (r.stdout + r.stderr).split('\n');
  const lineOf = (k: string) => {
    const found = lines.filter((l) => l.includes(` ${k} 127.0.0.1:${ports[k]}`));
    assert.equal(found.length, 1, `one line for ${k}: ${r.stdout}${r.stderr}`);
    return found[0];
  };
  assert.match(lineOf('good'), /^ok .*TLSv1\.3, ALPN http\/1\.1 \(learned\), client certificate accepted/);
  for (const [kind, e] of Object.entries(EXPECT)) {
    const l = lineOf(kind);
    assert.match(l, /^FAIL /, l);
    assert.ok(l.includes(`[${e.failure}; change: ${e.fix}`), l);
    assert.match(l, e.text, l);
    if (e.names) assert.match(l, e.names, l);
    if (e.issuer) assert.match(l, e.issuer, l);
  }
  assert.match(lineOf('silentnode'), /^FAIL .*closed the connection right after the handshake.*delegation\.ca\.cert.*\[client-certificate-refused; change: delegation\.ca\]/);
  assert.match(r.stderr, /7 upstream connections failed/);
});
