/**
 * Memory at start: importing the proxy (what `countersign start` loads before
 * it reads a config) does not load prom-client (only a process with an admin
 * listener keeps metrics), undici or the http forwarder (only configs with an
 * http-mode route), nor node:http as an ES module (its namespace pulls in
 * Node's bundled undici, ~6 MiB), nor @peculiar's ASN.1 libraries and asn1js
 * (~5 MiB; only CRL signatures, distribution points and OCSP use them, on
 * first use), nor proxy-protocol-js (only with proxyProtocol set). Checked
 * in a fresh Node process with a module-load hook, so a new static import
 * anywhere fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = resolve(fileURLToPath(import.meta.url), '../../../src');

function loadedBy(entries: string[]): { urls: string[]; builtins: string[] } {
  const script = `
    import { registerHooks } from 'node:module';
    const urls = [];
    registerHooks({ load(url, ctx, next) { urls.push(url); return next(url, ctx); } });
    for (const e of ${JSON.stringify(entries)}) await import(e);
    console.log(JSON.stringify({ urls, builtins: process.moduleLoadList }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split('\n').pop()!);
}

test('the proxy and the CLI load no prom-client, undici, ASN.1 libraries, proxy-protocol-js, http forwarder or ES node:http until a config asks', () => {
  const { urls, builtins } = loadedBy([join(DIST, 'proxy.js'), join(DIST, 'cli/commands/start.js')].map((p) => `file://${p}`));
  assert.ok(urls.some((u) => u.endsWith('/src/proxy.js')), 'the hook saw the proxy load');
  for (const pkg of ['/node_modules/prom-client/', '/node_modules/undici/', '/node_modules/@opentelemetry/', '/node_modules/@peculiar/', '/node_modules/asn1js/', '/node_modules/proxy-protocol-js/']) {
    assert.deepEqual(urls.filter((u) => u.includes(pkg)), [], `${pkg} is loaded at start`);
  }
  assert.deepEqual(urls.filter((u) => u.endsWith('/forward/http-forwarder.js') || u.includes('/forward/h1-relay/')), [], 'the http forwarder is loaded at start');
  // an ES import of node:http (rather than src/node-http.ts) or any read of globalThis.Headers loads it
  assert.equal(builtins.some((b) => b.includes('deps/undici')), false, "Node's bundled undici was loaded: is node:http imported as an ES module somewhere (use src/node-http.ts)?");
});
