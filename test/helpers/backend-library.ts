/**
 * The scenario every language's backend library runs (backends/<lang>/): its
 * example server on loopback behind a real countersign in connection mode.
 *
 * - alice, through countersign, is identified as alice with her original identity;
 * - bob, through countersign, is refused by the policy (deny wins);
 * - a certificate from a look-alike CA — the delegation CA's name, another
 *   key, and trusted by the backend's TLS layer — carrying a genuine-looking
 *   extension for alice is refused (ERR_DELEGATION_UNTRUSTED_ISSUER);
 * - alice connecting directly is refused, unless the server runs with --allow-direct;
 * - through a second countersign whose delegation CA is a per-instance
 *   intermediate under a pinned root, alice is identified too;
 * - a TLS session resumed after its minted certificate expired is refused
 *   (the validity checks hold on every request, not once per TLS session);
 * - the first countersign runs clientAuth mode any with the client CA: alice's
 *   names are vouched for (namesVouched true), a self-signed
 *   "CN=root, O=system:masters" is identified by its key with namesVouched
 *   false.
 *
 * Every example server takes the same command line (see backends/README.md).
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/dev/index.js';
import { describeCertificate } from '../../src/pki/certificate-info.js';
import { loadSigningCa } from '../../src/pki/key-material.js';
import { DELEGATION_OID, encodeDelegationExtension } from '../../src/delegation/extension-codec.js';
import { createCaSigner } from '../../src/delegation/ca-signer.js';
import { mintCertificate } from '../../src/delegation/certificate-minter.js';
import { KeyPool } from '../../src/delegation/key-pool.js';
import { connect as tlsConnect } from 'node:tls';
import { constants as cryptoConstants } from 'node:crypto';
import { untilPast } from './wait.js';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from './proxy-process.js';
import { runCommand, type CommandResult } from './run-command.js';

/** A temporary directory for build output, removed when the test process exits. */
export async function buildDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ExampleServer { child: ChildProcess; port: number; output: () => string }

/** Starts an example server and waits for its "listening <port>" line. */
export function startExampleServer(argv: string[], args: string[], opts: { cwd?: string } = {}): Promise<ExampleServer> {
  const child = spawn(argv[0], [...argv.slice(1), ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not listen within 60 s: ${out}${err}`)), 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]), output: () => out + err }); }
    });
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`${argv.join(' ')} exited ${c}: ${out}${err}`)); });
  });
}

function stop(s: ExampleServer | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => { s.child.once('exit', () => r()); s.child.kill('SIGTERM'); });
}

function json(r: CommandResult): { status: number; body: Record<string, string> } {
  const i = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(i + 1));
  const text = r.stdout.slice(0, i);
  let body: Record<string, string>;
  try { body = JSON.parse(text); } catch { throw new Error(`not JSON (status ${status}): ${text} ${r.stderr}`); }
  return { status, body };
}

interface RawResponse { status: number; body: Record<string, string>; reused: boolean; session?: Buffer }

/**
 * One HTTP/1.1 request on a fresh TLS 1.2 connection presenting `cert`, offering
 * `session` for resumption by session id (no tickets: the server keeps the
 * session, as a server-side session cache does); resolves with the answer and
 * whether the session was resumed, or rejects when the handshake fails.
 */
function requestOnce(port: number, ca: string, cert: { certPem: string; keyPem: string }, path: string, session?: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let newSession: Buffer | undefined = session;
    const s = tlsConnect({
      host: '127.0.0.1', port, servername: 'localhost', ca, cert: cert.certPem, key: cert.keyPem,
      maxVersion: 'TLSv1.2', secureOptions: cryptoConstants.SSL_OP_NO_TICKET, session, ALPNProtocols: ['http/1.1'],
    });
    s.on('session', (b: Buffer) => { newSession = b; });
    let data = '';
    let reused = false;
    s.once('secureConnect', () => {
      reused = s.isSessionReused();
      s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    s.on('data', (d: Buffer) => { data += d.toString('utf8'); });
    s.once('error', reject);
    s.once('close', () => {
      const head = data.indexOf('\r\n\r\n');
      if (head < 0) { reject(new Error(`no HTTP answer (${data.length} bytes)`)); return; }
      const status = Number(data.split(' ')[1]);
      let body: Record<string, string>;
      try { body = JSON.parse(data.slice(head + 4)); } catch { reject(new Error(`not JSON (status ${status}): ${data}`)); return; }
      resolve({ status, body, reused, session: newSession });
    });
  });
}

/**
 * Registers the before/after hooks and the four scenario tests. `command`
 * resolves (in before(), so a build counts against the hook's timeout, not a
 * test's) to the argv that starts the example server. `alpn`: what the server
 * speaks (upstreams.<name>.alpn), e.g. ['http/1.1'] for a server without HTTP/2.
 * `pinIntermediate`: pin the instance's intermediate as well as the root, for a
 * library that cannot see the certificates a peer sends after its own
 * (Python before 3.13).
 */
export function backendLibraryScenario(language: string, command: () => Promise<{ argv: string[]; cwd?: string }>,
  opts: { alpn?: string[]; pinIntermediate?: boolean } = {}): void {
  let pki: TestPki;
  let strict: ExampleServer;
  let lenient: ExampleServer;
  let proxy: ProxyProcess;
  let instanceProxy: ProxyProcess;
  let aliceIdentity: string;
  let selfRootIdentity: string;
  let delegationIdentity: string;
  let rootIdentity: string;
  let intermediateIdentity: string;

  before(async () => {
    pki = await makePki();
    const d = pki.dir;
    const alice = describeCertificate(pki.pki.clients.alice.cert);
    const bob = describeCertificate(pki.pki.clients.bob.cert);
    aliceIdentity = alice.identity;
    delegationIdentity = describeCertificate(pki.pki.delegationCa.cert).identity;
    // the forger's CA: the delegation CA's name, another key; the backend's TLS layer trusts it
    const lookalike = await issueCertificate({ subject: 'CN=countersign dev delegation CA', ca: true });
    const extension = encodeDelegationExtension({
      version: 2, namesVouched: true,
      certSha256: Buffer.from(alice.certSha256, 'hex'), spkiSha256: Buffer.from(alice.identity, 'hex'), certSha1: Buffer.from(alice.certSha1, 'hex'),
      subject: alice.fields.subject, issuer: alice.fields.issuer, serial: alice.fields.serial, notAfter: alice.fields.notAfter,
    });
    const forged = await issueCertificate({
      subject: 'CN=alice, O=countersign dev', issuer: lookalike, extraExtensions: [{ oid: DELEGATION_OID, critical: false, value: extension }],
    });
    // what anyone can make, and mode any admits: a self-signed certificate naming itself root
    const selfRoot = await issueCertificate({ subject: 'CN=root, O=system:masters', usage: 'client' });
    selfRootIdentity = describeCertificate(selfRoot.cert).identity;
    await writeFile(join(d, 'self-root.crt'), selfRoot.certPem);
    await writeFile(join(d, 'self-root.key'), selfRoot.keyPem, { mode: 0o600 });
    await writeFile(join(d, 'lookalike-ca.crt'), lookalike.certPem);
    await writeFile(join(d, 'forged.crt'), forged.certPem);
    await writeFile(join(d, 'forged.key'), forged.keyPem, { mode: 0o600 });
    await chmod(join(d, 'forged.key'), 0o600);

    // a per-instance intermediate under a root the backends pin (delegation.ca: the intermediate, then the root)
    const root = await issueCertificate({ subject: 'CN=fleet delegation root', ca: true });
    const intermediate = await issueCertificate({ subject: 'CN=delegation intermediate, OU=instance 1', ca: true, issuer: root });
    rootIdentity = describeCertificate(root.cert).identity;
    intermediateIdentity = describeCertificate(intermediate.cert).identity;
    await writeFile(join(d, 'fleet-root.crt'), root.certPem);
    await writeFile(join(d, 'instance.crt'), intermediate.certPem + root.certPem);
    await writeFile(join(d, 'instance-intermediate.crt'), intermediate.certPem);
    await writeFile(join(d, 'instance.key'), intermediate.keyPem, { mode: 0o600 });
    await chmod(join(d, 'instance.key'), 0o600);

    const { argv, cwd } = await command();
    const common = [
      '--cert', `${d}/backend.crt`, '--key', `${d}/backend.key`,
      '--ca', `${d}/delegation-ca.crt`, '--ca', `${d}/client-ca.crt`, '--ca', `${d}/lookalike-ca.crt`,
      '--delegation-ca', `${d}/delegation-ca.crt`,
      '--ca', `${d}/fleet-root.crt`, '--delegation-ca', `${d}/fleet-root.crt`,
      ...(opts.pinIntermediate ? ['--delegation-ca', `${d}/instance-intermediate.crt`] : []),
      '--policy', 'app', '--allow', '/v1/key/*/*', '--identity', alice.identity,
      '--policy', 'readonly', '--allow', '/v1/key/*/*', '--deny', '/v1/key/create/*', '--identity', bob.identity,
      '--policy', 'by-key', '--allow', '/v1/key/list/*', '--identity', selfRootIdentity,
    ];
    [strict, lenient] = await Promise.all([
      startExampleServer(argv, common, { cwd }),
      startExampleServer(argv, [...common, '--allow-direct'], { cwd }),
    ]);
    const config = baseConfig(d, strict.port) as { upstreams: { backend: Record<string, unknown> }; edge: Record<string, unknown> };
    if (opts.alpn) config.upstreams.backend.alpn = opts.alpn;
    // the instance keeps mode require; the first proxy admits any certificate, vouching for the client CA's
    const instance = structuredClone(config) as typeof config & { delegation: unknown };
    config.edge.clientAuth = { mode: 'any', ca: `${d}/client-ca.crt` };
    instance.delegation = { ca: { cert: `${d}/instance.crt`, key: `${d}/instance.key` }, ttl: '1h' };
    [proxy, instanceProxy] = await Promise.all([
      startProxyProcess(await writeConfig(d, config)),
      startProxyProcess(await writeConfig(d, instance, 'instance.yaml')),
    ]);
  }, { timeout: 240_000 }); // a cold build (javac, go build) on a busy machine
  after(async () => { await Promise.all([proxy?.stop(), instanceProxy?.stop()]); await Promise.all([stop(strict), stop(lenient)]); });

  const viaProxy = (who: string, path: string, through = proxy) =>
    runCommand('curl', ['-sS', '--max-time', '20', '--cacert', `${pki.dir}/edge-ca.crt`, '--cert', `${pki.dir}/${who}.crt`, '--key', `${pki.dir}/${who}.key`,
      '-w', '\n%{http_code}', `https://localhost:${through.port}${path}`], { timeoutMs: 30_000 });
  const direct = (port: number, who: string, path: string) =>
    runCommand('curl', ['-sS', '--max-time', '20', '--cacert', `${pki.dir}/backend-ca.crt`, '--cert', `${pki.dir}/${who}.crt`, '--key', `${pki.dir}/${who}.key`,
      '-w', '\n%{http_code}', `https://127.0.0.1:${port}${path}`], { timeoutMs: 30_000 });

  test(`${language}: alice through countersign is identified as alice, with her original identity`, async () => {
    const r = json(await viaProxy('alice', '/v1/key/create/my-key'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.via, 'delegated');
    assert.equal(r.body.identity, aliceIdentity);
    assert.equal(r.body.subject, 'CN=alice, O=countersign dev');
    assert.equal(r.body.issuer, 'CN=countersign dev client CA');
    assert.equal(r.body.namesVouched, 'true', 'the client CA vouched for alice (clientAuth mode any with a ca)');
    assert.equal(r.body.policy, 'app');
    assert.equal(r.body.proxy, delegationIdentity);
  });

  test(`${language}: a self-signed "CN=root, O=system:masters" in clientAuth mode any is identified by its key, its names not vouched for`, async () => {
    const r = json(await viaProxy('self-root', '/v1/key/list/all'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.via, 'delegated');
    assert.equal(r.body.identity, selfRootIdentity);
    assert.equal(r.body.namesVouched, 'false');
    assert.equal(r.body.subject, 'CN=root, O=system:masters', 'what the certificate claims, for logs');
    assert.equal(r.body.policy, 'by-key');
  });

  test(`${language}: bob through countersign is prohibited by the policy (deny wins)`, async () => {
    const r = json(await viaProxy('bob', '/v1/key/create/my-key'));
    assert.equal(r.status, 403);
    assert.deepEqual(r.body, { code: 'ERR_POLICY_DENIED', message: 'prohibited by policy' });
    const allowed = json(await viaProxy('bob', '/v1/key/list/all'));
    assert.equal(allowed.status, 200, 'the same policy allows bob elsewhere');
    assert.equal(allowed.body.policy, 'readonly');
  });

  test(`${language}: a forged extension from a look-alike CA the TLS layer trusts is refused`, async () => {
    for (const server of [strict, lenient]) {
      const r = json(await direct(server.port, 'forged', '/v1/key/create/my-key'));
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.equal(r.body.code, 'ERR_DELEGATION_UNTRUSTED_ISSUER');
    }
  });

  test(`${language}: a direct client is accepted only when the server allows direct clients`, async () => {
    const refused = json(await direct(strict.port, 'alice', '/v1/key/create/my-key'));
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, 'ERR_DIRECT_NOT_ALLOWED');
    const accepted = json(await direct(lenient.port, 'alice', '/v1/key/create/my-key'));
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    assert.equal(accepted.body.via, 'direct');
    assert.equal(accepted.body.identity, aliceIdentity);
    assert.equal(accepted.body.namesVouched, 'true', 'the server\'s own TLS trust verified her chain');
  });

  test(`${language}: through an instance with its own intermediate under the pinned root, alice is identified`, async () => {
    const r = json(await viaProxy('alice', '/v1/key/create/my-key', instanceProxy));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.via, 'delegated');
    assert.equal(r.body.identity, aliceIdentity);
    assert.equal(r.body.namesVouched, 'true', 'clientAuth mode require');
    // the pinned key that vouched: the root (found through the intermediate), or the intermediate when pinned itself
    assert.equal(r.body.proxy, opts.pinIntermediate ? intermediateIdentity : rootIdentity);
  });

  test(`${language}: a TLS session resumed after its minted certificate expired is refused`, async () => {
    // a minted certificate that lives ~2 s, as a leaked one would after delegation.ttl
    const ca = createCaSigner(loadSigningCa({ certPem: pki.pki.delegationCa.certPem, keyPem: pki.pki.delegationCa.keyPem, what: 'delegation CA' }));
    const pool = new KeyPool({ size: 0 });
    const minted = mintCertificate(describeCertificate(pki.pki.clients.alice.cert), { ca, key: pool.take(), ttlMs: 2_500, namesVouched: true });
    pool.stop();
    const backendCa = pki.pki.backendCa.certPem;
    const first = await requestOnce(strict.port, backendCa, minted, '/v1/key/create/my-key');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.identity, aliceIdentity);
    await untilPast(minted.notAfter);
    // resumed by session id where the server keeps sessions (Java, Python); a server that keeps none (Go
    // resumes by ticket only) or does not resume an expired client's session refuses the full handshake
    let second: RawResponse | Error;
    try { second = await requestOnce(strict.port, backendCa, minted, '/v1/key/create/my-key', first.session); } catch (err) { second = err as Error; }
    if (second instanceof Error) return;
    assert.equal(second.status, 401, `${second.reused ? 'resumed' : 'full'} handshake after expiry answered ${JSON.stringify(second.body)}`);
    assert.equal(second.body.code, 'ERR_CERT_EXPIRED');
  });
}
