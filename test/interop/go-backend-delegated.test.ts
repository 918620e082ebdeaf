/**
 * A Go backend (as KES, etcd, Kubernetes are) behind countersign in connection
 * mode: Go's crypto/tls accepts the minted certificate — which it would not with
 * an OID arc of 2^31 or more — and the Go code unwraps alice's identity from the
 * delegation extension.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { curl, curlStatus, runCommand } from '../helpers/run-command.js';

let pki: TestPki;
let goServer: ChildProcess;
let proxy: ProxyProcess;
let goPort: number;

before(async () => {
  pki = await makePki();
  const dir = await mkdtemp(join(tmpdir(), 'countersign-go-'));
  const bin = join(dir, 'delegated-backend');
  const build = await runCommand('go', ['build', '-o', bin, join(REPO_ROOT, 'test/interop/go/delegated-backend.go')], { timeoutMs: 120_000, cwd: dir });
  assert.equal(build.code, 0, `go build failed: ${build.stderr}`);
  goServer = spawn(bin, [`${pki.dir}/backend.crt`, `${pki.dir}/backend.key`, `${pki.dir}/delegation-ca.crt`], { stdio: ['ignore', 'pipe', 'pipe'] });
  goPort = await new Promise<number>((resolve, reject) => {
    let out = '';
    goServer.stdout!.on('data', (d) => { out += d; const m = /listening (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
    goServer.once('exit', (c) => reject(new Error(`go backend exited ${c}`)));
  });
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, goPort)));
});
after(async () => { await proxy?.stop(); goServer?.kill('SIGKILL'); });

test('the Go backend accepts the minted certificate and unwraps alice', async () => {
  const alice = (await runCommand(process.execPath, [join(REPO_ROOT, 'bin/countersign.js'), 'identity', 'of', `${pki.dir}/alice.crt`])).stdout.trim();
  const r = curlStatus(await curl(pki.dir, 'alice', `https://localhost:${proxy.port}/whoami`));
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, new RegExp(`^identity=${alice} subject=CN=alice,O=countersign dev proto=HTTP/2.0 namesVouched=true\n`));
});

test('a certificate the Go backend would see directly from alice is refused there (it trusts only the delegation CA)', async () => {
  const r = await runCommand('curl', ['-sS', '--max-time', '5', '-k', '--cert', `${pki.dir}/alice.crt`, '--key', `${pki.dir}/alice.key`, `https://127.0.0.1:${goPort}/whoami`]);
  assert.notEqual(r.code, 0, 'direct connection must fail the handshake');
});
