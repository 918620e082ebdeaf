/**
 * clientAuth mode any with a client CA: a name that no configured CA vouches
 * for never reaches a backend as a name, nor matches an access rule on names.
 * A self-signed certificate that calls itself alice is presented upstream as
 * `CN=<its identity>` without its SANs, and countersign/backend reports its
 * claimed names as not vouched for; the client CA's alice keeps her names.
 * Both modes; a rule on cn admits only the vouched alice, a rule on
 * identities admits the self-signed client by its key. When the client CA is
 * replaced, alice's open connection (minted with her names) is closed; the
 * self-signed client's, which never had names, goes on.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, startTlsBackend, type HttpsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';
import { writeFile } from 'node:fs/promises';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { identityOfFile, readUntilClose, sClient, tlsClient, upstreamTo, writeIssued } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';

let pki: TestPki;
let web: HttpsBackend;
let pipe: TlsBackend;
let proxy: ProxyProcess;
let impostor: string;
let alice: string;

before(async () => {
  pki = await makePki();
  // self-signed, naming itself alice with alice's DNS name
  await writeIssued(pki.dir, 'impostor', { subject: 'CN=alice, O=countersign dev', dnsNames: ['alice.example'], usage: 'client' });
  impostor = identityOfFile(pki.dir, 'impostor');
  alice = identityOfFile(pki.dir, 'alice');
  web = await startHttpsBackend({ pkiDir: pki.dir });
  pipe = await startTlsBackend({ pkiDir: pki.dir, onConnection: (c) => c.socket.once('data', () => c.socket.end(`${c.presentedSubject}|${c.subject}|${c.namesVouched}\n`)) });
  const config = baseConfig(pki.dir, web.port, {}, { clientAuth: { mode: 'any', ca: `${pki.dir}/client-ca.crt` } });
  config.upstreams = { web: upstreamTo(pki.dir, web.port), pipe: upstreamTo(pki.dir, pipe.port) };
  config.routes = [
    { upstream: 'pipe', mode: 'connection', match: { sni: 'pipe.test' } },
    { upstream: 'pipe', mode: 'connection', match: { sni: 'alice-only.test' }, allow: { cn: ['alice'], dns: ['alice.example'] } },
    { upstream: 'web', mode: 'http', match: { pathPrefix: '/alice/' }, allow: { cn: ['alice'] } },
    { upstream: 'web', mode: 'http', match: { pathPrefix: '/by-key/' }, allow: { identities: [impostor] } },
    { upstream: 'web', mode: 'http' },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await web?.close(); await pipe?.close(); });

const get = async (who: string, path: string) => curlStatus(await curl(pki.dir, who, `https://localhost:${proxy.port}${path}`));

test('http: the self-signed "alice" reaches the backend as CN=<identity>, its claimed names marked not vouched', async () => {
  const r = await get('impostor', '/');
  assert.equal(r.status, 200, r.body);
  const seen = JSON.parse(r.body);
  assert.equal(seen.identity, impostor, 'the identity is the client\'s own');
  assert.equal(seen.presentedSubject, `CN=${impostor}`, 'a backend that reads the CN sees the key, not "alice"');
  assert.equal(seen.subject, 'CN=alice, O=countersign dev', 'the library still says what was claimed');
  assert.equal(seen.namesVouched, false);
});

test('http: alice from the client CA keeps her names, vouched for', async () => {
  const r = await get('alice', '/');
  assert.equal(r.status, 200, r.body);
  const seen = JSON.parse(r.body);
  assert.equal(seen.identity, alice);
  assert.equal(seen.presentedSubject, 'CN=alice, O=countersign dev');
  assert.equal(seen.namesVouched, true);
});

test('http: a rule on cn admits the vouched alice and refuses the self-signed one; a rule on identities admits it', async () => {
  assert.equal((await get('alice', '/alice/x')).status, 200);
  const before = web.requests.length;
  const refused = await get('impostor', '/alice/x');
  assert.equal(refused.status, 403, refused.body);
  assert.equal(web.requests.length, before, 'nothing forwarded');
  assert.equal((await get('impostor', '/by-key/x')).status, 200);
  assert.equal((await get('alice', '/by-key/x')).status, 403);
});

test('connection: the self-signed "alice" is presented as CN=<identity>; alice as alice', async () => {
  const self = await sClient(proxy.port, pki.dir, 'impostor', { servername: 'pipe.test' });
  assert.equal(self.stdout, `CN=${impostor}|CN=alice, O=countersign dev|false\n`);
  const real = await sClient(proxy.port, pki.dir, 'alice', { servername: 'pipe.test' });
  assert.equal(real.stdout, 'CN=alice, O=countersign dev|CN=alice, O=countersign dev|true\n');
  // the log says which subject is a claim: the self-signed one's line is marked, alice's is not
  const selfLine = await proxy.waitForLog((l) => l.msg === 'connection' && l.identity === impostor && l.mode === 'connection');
  assert.equal(selfLine.subject, 'CN=alice, O=countersign dev');
  assert.equal(selfLine.namesVouched, false);
  const realLine = await proxy.waitForLog((l) => l.msg === 'connection' && l.identity === alice && l.mode === 'connection');
  assert.equal(realLine.namesVouched, undefined);
});

test('connection: a rule on cn and dns refuses the self-signed "alice"', async () => {
  const forwarded = pipe.connections.length;
  const mark = proxy.logs.length;
  const refused = await sClient(proxy.port, pki.dir, 'impostor', { servername: 'alice-only.test' });
  assert.equal(refused.stdout, '');
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'client refused');
  assert.equal(line.reason, 'not allowed');
  assert.equal(line.namesVouched, false);
  assert.equal(pipe.connections.length, forwarded);
  const real = await sClient(proxy.port, pki.dir, 'alice', { servername: 'alice-only.test' });
  assert.equal(real.stdout, 'CN=alice, O=countersign dev|CN=alice, O=countersign dev|true\n');
});

test('the client CA replaced: an open connection minted with vouched names is closed, one without names goes on', async () => {
  const mark = proxy.logs.length;
  const before = pipe.connections.length;
  const alice = await tlsClient(proxy.port, pki.dir, 'alice', { servername: 'pipe.test', checkServerIdentity: () => undefined });
  const self = await tlsClient(proxy.port, pki.dir, 'impostor', { servername: 'pipe.test', checkServerIdentity: () => undefined });
  await waitFor(() => pipe.connections.length >= before + 2, 'both piped upstream');
  const aliceClosed = readUntilClose(alice);
  const other = await issueCertificate({ subject: 'CN=another client CA', ca: true });
  await writeFile(`${pki.dir}/client-ca.crt`, other.certPem);
  await aliceClosed;
  const line = await proxy.waitForLog((l) => proxy.logs.indexOf(l) >= mark && l.msg === 'connection' && l.outcome === 'revoked');
  assert.equal(line.reason, 'unknown CA');
  assert.equal(line.identity, identityOfFile(pki.dir, 'alice'));
  assert.equal(self.destroyed, false, 'the connection without names is not closed');
  const answer = readUntilClose(self);
  self.write('ping\n');
  assert.equal((await answer).data, `CN=${impostor}|CN=alice, O=countersign dev|false\n`);
});
