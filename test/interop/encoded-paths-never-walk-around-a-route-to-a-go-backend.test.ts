/**
 * A Go net/http backend with KES's shape of API behind http mode: a route for
 * /v1/key/delete/ admits only alice, a broad /v1/ route everyone. bob must not
 * reach the delete handler by writing the path another way
 * (`/v1/key/%64elete/k1`, `/v1/key/delet%65/k1`, `/v1/%6bey/delete/k1`: the Go
 * server decodes them to /v1/key/delete/k1), nor around it with dot segments
 * or `;` parameters, over HTTP/1.1 or HTTP/2. alice's encoded request reaches
 * the handler, and what Go receives is the normalized target that was routed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, baseConfig, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { buildDir, startExampleServer, type ExampleServer } from '../helpers/backend-library.js';
import { curl, curlStatus, runCommand } from '../helpers/run-command.js';

let pki: TestPki;
let go: ExampleServer;
let proxy: ProxyProcess;

before(async () => {
  pki = await makePki();
  const dir = await buildDir('countersign-go-keyroutes-');
  const bin = join(dir, 'keyroutes');
  const build = await runCommand('go', ['build', '-o', bin, join(REPO_ROOT, 'test/interop/go/keyroutes/main.go')], { timeoutMs: 120_000, cwd: dir });
  assert.equal(build.code, 0, `go build failed: ${build.stderr}`);
  go = await startExampleServer([bin], [`${pki.dir}/backend.crt`, `${pki.dir}/backend.key`, `${pki.dir}/delegation-ca.crt`]);
  const config = baseConfig(pki.dir, go.port);
  config.routes = [
    { upstream: 'backend', mode: 'http', match: { pathPrefix: '/v1/key/delete/' }, allow: { cn: ['alice'] } },
    { upstream: 'backend', mode: 'http', match: { pathPrefix: '/v1/' } },
  ];
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); go?.child.kill('SIGKILL'); });

const ENCODED = ['/v1/key/%64elete/k1', '/v1/key/delet%65/k1', '/v1/%6bey/delete/k1', '/v1/key/%64%65%6c%65%74%65/k1', '/v1/%6B%65%79/delete/k1'];

for (const version of ['--http1.1', '--http2']) {
  const get = (who: string, path: string) => curl(pki.dir, who, `https://localhost:${proxy.port}${path}`, [version, '--path-as-is']).then(curlStatus);

  test(`${version.slice(2)}: bob cannot reach the delete handler through an encoded path`, async () => {
    const before = go.output().split('\n').filter((l) => l.startsWith('handled delete bob')).length;
    for (const path of ENCODED) {
      const r = await get('bob', path);
      assert.equal(r.status, 403, `${path}: ${r.body}`);
    }
    const r = await get('bob', '/v1/key/delete/k1');
    assert.equal(r.status, 403, r.body);
    assert.equal(go.output().split('\n').filter((l) => l.startsWith('handled delete bob')).length, before, 'the delete handler never ran for bob');
  });

  test(`${version.slice(2)}: dot segments, ; parameters and empty segments are refused before routing`, async () => {
    for (const path of ['/v1/other/../key/delete/k1', '/v1/other/%2e%2e/key/delete/k1', '/v1/other/%2E%2E/key/delete/k1', '/v1/key/..;/key/delete/k1', '/v1/key;x=1/delete/k1', '/v1//key/delete/k1', '/v1/key/delete/%2e/k1']) {
      const r = await get('bob', path);
      assert.equal(r.status, 400, `${path}: ${r.body}`);
    }
  });

  test(`${version.slice(2)}: alice's encoded request reaches the handler, and Go gets the form that was routed`, async () => {
    const r = await get('alice', '/v1/key/%64elete/k1?x=%2e');
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body) as Record<string, string>;
    assert.equal(seen.handler, 'delete');
    assert.equal(seen.cn, 'alice');
    assert.equal(seen.requestURI, '/v1/key/delete/k1?x=%2e');
    const other = JSON.parse((await get('bob', '/v1/key/list/a%3bb')).body) as Record<string, string>;
    assert.equal(other.handler, 'other');
    assert.equal(other.requestURI, '/v1/key/list/a%3Bb', 'escapes of reserved characters are upper-cased, not decoded');
    assert.equal(other.path, '/v1/key/list/a;b');
  });
}
