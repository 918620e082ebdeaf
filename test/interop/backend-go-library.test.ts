/**
 * backends/go: its unit tests (the shared golden vectors, Go's own path.Match)
 * and its example server behind a real countersign.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';
import { backendLibraryScenario, buildDir } from '../helpers/backend-library.js';

const MODULE = join(REPO_ROOT, 'backends/go');

test('go test passes in backends/go (vectors, policy, path.Match)', { timeout: 200_000 }, async () => {
  const r = await runCommand('go', ['test', '-count=1', './...'], { cwd: MODULE, timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok\s/m);
});

backendLibraryScenario('Go', async () => {
  const bin = join(await buildDir('countersign-go-example-'), 'example');
  const r = await runCommand('go', ['build', '-o', bin, './example'], { cwd: MODULE, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `go build failed: ${r.stderr}`);
  return { argv: [bin] };
});
