/**
 * backends/java: built with javac and jar alone (build.sh), its golden-vector
 * tests, and its example server behind a real countersign.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';
import { backendLibraryScenario, buildDir } from '../helpers/backend-library.js';

const DIR = join(REPO_ROOT, 'backends/java');
// short-lived JVMs (javac, the vector runner, the example servers): the C1 compiler and the serial
// collector start ~40% faster on a busy 2-core machine; children of this test process only
process.env.JAVA_TOOL_OPTIONS ??= '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';
let out: string;
let built: Promise<void> | undefined;
// one javac run serves the vector tests and the example server
const build = () => (built ??= (async () => {
  out = await buildDir('countersign-java-');
  const r = await runCommand('sh', [join(DIR, 'build.sh'), out], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `build.sh failed: ${r.stdout}${r.stderr}`);
})());

before(build, { timeout: 200_000 });

test('the Java golden-vector tests pass (javac + java, no test framework)', async () => {
  const r = await runCommand('java', ['-cp', `${out}/countersign-backend.jar:${out}/test`, 'dev.countersign.backend.VectorsTest',
    join(REPO_ROOT, 'test/vectors/delegation-vectors.json')], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^OK \d+ passed, 0 failed$/m);
});

// com.sun.net.httpserver speaks HTTP/1.1 only: the edge must not agree h2 with the client
backendLibraryScenario('Java', async () => {
  await build();
  return { argv: ['java', '-cp', `${out}/countersign-backend.jar:${out}/test`, 'ExampleServer'] };
}, { alpn: ['http/1.1'] });
