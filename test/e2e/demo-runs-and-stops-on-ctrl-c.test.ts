/**
 * `countersign demo` (what `npm start` runs): it starts the demo key service
 * behind the proxy, and the curl commands it prints do what the comments above
 * them say — alice allowed, bob 403 prohibited by policy, root refused at the
 * edge, no certificate refused with 400. Ctrl-C (SIGINT) stops it cleanly with
 * exit 0; SIGUSR1 opens no inspector. The demo uses the fixed ports 8443 and 7373: this is the only test
 * that runs it.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, REPO_ROOT, runCli } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';
import { deferred, waitFor, withTimeout } from '../helpers/wait.js';
import { identityOfFile } from '../helpers/e2e.js';
import { listeningPorts } from '../helpers/process-ports.js';

let demo: ChildProcess;
let stdout = '';
let stderr = '';
let exited: Promise<number | null>;

before(async () => {
  // the demo's dev PKI lives in the repository's (git-ignored) certs/
  if (!existsSync(join(REPO_ROOT, 'certs', 'alice.crt'))) {
    const r = await runCli(['certs', 'init', '--out', join(REPO_ROOT, 'certs')]);
    assert.equal(r.code, 0, r.stderr);
  }
  demo = spawn(process.execPath, [CLI, 'demo'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  exited = new Promise((r) => demo.once('exit', (code) => r(code)));
  const ready = deferred();
  demo.stdout!.on('data', (d) => { stdout += d; if (stdout.includes('Ctrl-C stops everything')) ready.resolve(); });
  demo.stderr!.on('data', (d) => { stderr += d; });
  await withTimeout(Promise.race([
    ready.promise,
    exited.then((code) => { throw new Error(`the demo exited with ${code}`); }),
  ]), 'the demo did not start', 20_000).catch((err: Error) => { throw new Error(`${err.message}: ${stdout}${stderr}`); });
});
after(() => { if (demo?.exitCode === null) demo.kill('SIGKILL'); });

/** The printed commands, each with the comment above it. */
function printedCommands(): { comment: string; args: string[] }[] {
  const out: { comment: string; args: string[] }[] = [];
  let comment = '';
  for (const line of stdout.split('\n').map((l) => l.trim())) {
    if (line.startsWith('#')) comment = line;
    else if (line.startsWith('curl ')) out.push({ comment, args: line.split(/\s+/).slice(1) });
  }
  return out;
}

async function run(args: string[]) {
  const r = await runCommand('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args], { cwd: REPO_ROOT });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i), stderr: r.stderr };
}

test('the printed curl commands do what their comments say', async () => {
  const commands = printedCommands();
  assert.ok(commands.length >= 5, stdout);
  const alice = identityOfFile(join(REPO_ROOT, 'certs'), 'alice');
  const seen = new Set<string>();
  for (const { comment, args } of commands) {
    const r = await run(args);
    const who = args.find((a) => /\/(alice|bob|root)\.crt$/.test(a))?.match(/(alice|bob|root)\.crt$/)?.[1] ?? 'nobody';
    seen.add(who);
    if (who === 'alice') {
      assert.equal(r.status, 200, `${comment}: ${r.body}`);
      assert.equal(JSON.parse(r.body).client.identity, alice);
    } else if (who === 'bob') {
      assert.equal(r.status, 403, `${comment}: ${r.body}`);
      assert.match(r.body, /prohibited by policy/);
      assert.match(comment, /403 prohibited by policy/);
    } else if (who === 'root') {
      assert.equal(r.status, 403, `${comment}: ${r.body}`);
      assert.doesNotMatch(r.body, /prohibited by policy/, 'refused by the proxy, not by the service');
      assert.match(comment, /refused at the edge/);
    } else {
      assert.equal(r.status, 400, `${comment}: ${r.body}`);
      assert.match(comment, /no client certificate.*\(400\)/);
    }
  }
  assert.deepEqual([...seen].sort(), ['alice', 'bob', 'nobody', 'root']);
  // the refusals at the edge are logged with their reasons
  assert.match(stdout, /"reason":"denied identity".*"msg":"client refused"/);
  assert.match(stdout, /"reason":"no certificate".*"msg":"client refused"/);
});

test('SIGUSR1 opens no inspector: it is logged as ignored and no new port listens', async () => {
  demo.kill('SIGUSR1');
  await waitFor(() => stdout.includes('SIGUSR1: no log or audit file to reopen; ignored'), 'the SIGUSR1 line', 10_000);
  assert.deepEqual(await listeningPorts(demo.pid!), [7373, 8443], 'the key service and the proxy, nothing else');
  assert.doesNotMatch(stderr, /Debugger listening/);
});

test('Ctrl-C (SIGINT) stops it cleanly, exit 0', async () => {
  demo.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.match(stdout, /"msg":"countersign stopped"/);
  // the ports are free again
  const r = await runCommand('curl', ['-sS', '--max-time', '5', '-k', 'https://localhost:8443/']);
  assert.equal(r.code, 7, 'nothing listens on 8443 any more');
});
