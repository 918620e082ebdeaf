/**
 * backends/python: its unittest suite (the shared golden vectors, the pinned-key
 * signature check) and its example server behind a real countersign.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';
import { backendLibraryScenario } from '../helpers/backend-library.js';

const DIR = join(REPO_ROOT, 'backends/python');
// Debian's interpreter (what CI installs); a pyenv shim on PATH may point elsewhere
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

test('python unittest passes in backends/python (vectors, signatures)', { timeout: 150_000 }, async () => {
  const r = await runCommand(PYTHON, ['-m', 'unittest', 'discover', '-s', 'tests', '-v'], { cwd: DIR, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /^OK$/m);
});

// http.server speaks HTTP/1.1 only: the edge must not agree h2 with the client. Python 3.11's ssl
// shows only the peer's leaf, not the intermediate sent after it: the instance's intermediate is pinned too.
backendLibraryScenario('Python', async () => ({ argv: [PYTHON, join(DIR, 'example/server.py')] }), { alpn: ['http/1.1'], pinIntermediate: true });
