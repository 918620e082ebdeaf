/**
 * Differential property: for random route tables and random request targets,
 * the route http mode chooses (on the normalized target) is the route chosen
 * on the path a decoding backend acts on — what a Go net/http server makes of
 * the target as sent (url.ParseRequestURI, then ServeMux's cleanPath of the
 * decoded path; test/interop/go/cleanpath). A target refused with 400 is not
 * compared; one accepted is never one Go refuses.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import fc from 'fast-check';
import { REPO_ROOT } from '../helpers/proxy-process.js';
import { buildDir } from '../helpers/backend-library.js';
import { runCommand } from '../helpers/run-command.js';
import { normalizeTarget } from '../../src/forward/request-target.js';
import { Router } from '../../src/forward/router.js';
import type { RouteConfig } from '../../src/config/index.js';

let go: ChildProcess;
const answers: ((line: string) => void)[] = [];

before(async () => {
  const dir = await buildDir('countersign-go-cleanpath-');
  const bin = join(dir, 'cleanpath');
  const build = await runCommand('go', ['build', '-o', bin, join(REPO_ROOT, 'test/interop/go/cleanpath/main.go')], { timeoutMs: 120_000, cwd: dir });
  assert.equal(build.code, 0, `go build failed: ${build.stderr}`);
  go = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  createInterface({ input: go.stdout! }).on('line', (line) => answers.shift()?.(line));
});
after(() => { go?.stdin?.end(); go?.kill(); });

/** The path Go's server routes on for `target`, or undefined when it refuses the target. */
function goPath(target: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    answers.push((line) => resolve(line === 'ERR' ? undefined : Buffer.from(line, 'hex').toString('utf8')));
    go.stdin!.write(Buffer.from(target, 'latin1').toString('hex') + '\n');
  });
}

const segment = fc.constantFrom('v1', 'key', 'delete', 'a', 'b', 'k1', 'x.y', '~u', 'a b');
const routeTable = fc.array(
  fc.tuple(fc.array(segment, { minLength: 0, maxLength: 3 }), fc.boolean()).map(([segs, slash]) => '/' + segs.join('/') + (slash && segs.length ? '/' : '')),
  { minLength: 1, maxLength: 5 },
);
/** pieces of targets: plain and encoded letters, dots, slashes, ; and escapes of all kinds */
const piece = fc.constantFrom(
  'v1', 'key', 'delete', 'a', 'b', 'k1', '/', '/', '/', '.', '..', ';', '%2e', '%2E', '%2e%2e', '%2f', '%2F', '%5c', '%25', '%2564', '%64', '%65', '%6b', '%6B',
  '%61', '%41', '%3b', '%3B', '%20', '%7e', '%7E', '%', '%zz', '?', '?x=../y', '#', 'delet', 'elete', 'ey', 'x.y', '~u', '%00', '%C3%A9', '%ff',
);

test('the route chosen on the normalized target is the route chosen on what a Go backend sees', async () => {
  let compared = 0;
  await fc.assert(fc.asyncProperty(routeTable, fc.array(piece, { minLength: 1, maxLength: 10 }), async (prefixes, parts) => {
    const routes = prefixes.map((p, i) => ({ upstream: `r${i}`, mode: 'http', match: { pathPrefix: p } }) as unknown as RouteConfig);
    const router = new Router(routes);
    const conn = router.forConnection(undefined)!;
    const target = '/' + parts.join('');
    const ours = normalizeTarget(target);
    const seen = await goPath(target);
    if (!ours.ok) return;
    compared++;
    assert.notEqual(seen, undefined, `${target} accepted (as ${ours.target}) but Go refuses it`);
    const routed = router.forRequest(conn, undefined, ours.path)?.upstream;
    const asGo = router.forRequest(conn, undefined, seen!)?.upstream;
    assert.equal(routed, asGo, `${target}: routed on ${ours.path} to ${routed}; Go acts on ${seen}, routed to ${asGo} (prefixes ${JSON.stringify(prefixes)})`);
    // and what is forwarded is seen by Go as the very path that was routed
    assert.equal(await goPath(ours.target), ours.path, `${ours.target} forwarded`);
  }), { numRuns: 3000 });
  assert.ok(compared > 300, `only ${compared} targets were accepted and compared`);
});
