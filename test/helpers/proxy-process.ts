/**
 * Starts the built CLI (`bin/countersign.js start`) as a user would, with a YAML
 * config written to a temp directory, and reads its JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
export const CLI = join(REPO_ROOT, 'bin/countersign.js');

export { makePki, makeWorkdir, type TestPki } from './pki.js';

export interface LogLine { level: number; msg: string; [k: string]: unknown }

export interface ProxyProcess {
  port: number;
  child: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  /** resolves with the first log line matching, waiting up to timeoutMs */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** sends a signal and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes a config file (an object as YAML, or text as it is) into `dir`. */
export async function writeConfig(dir: string, config: unknown, name = 'countersign.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, typeof config === 'string' ? config : stringify(config));
  return file;
}

export interface ProxyProcessOptions {
  /** the program and its first arguments; default: this Node with the clone's bin/countersign.js */
  command?: [string, ...string[]];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** the config's log.file: its lines are followed (like `tail -F`, across a rename) instead of stdout */
  logFile?: string;
}

export function startProxyProcess(configFile: string, extraArgs: string[] = [], opts: ProxyProcessOptions = {}): Promise<ProxyProcess> {
  const [cmd, ...pre] = opts.command ?? [process.execPath, CLI];
  const child = spawn(cmd, [...pre, 'start', '--config', configFile, ...extraArgs], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  let stderr = '';
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let l: LogLine;
      try { l = JSON.parse(line); } catch { continue; }
      logs.push(l);
      for (const w of [...waiters]) if (w.pred(l)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
    }
  };
  child.stdout!.on('data', onData);
  if (opts.logFile) followFile(opts.logFile, onData, child);
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 30_000) => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<LogLine>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
      t.unref(); // the child's pipes keep the test alive while it runs; an exited child must not hold it for the timeout
      waiters.push({ pred, resolve: (l) => { clearTimeout(t); res(l); } });
    });
  };
  return new Promise((resolve, reject) => {
    exited.then((code) => reject(new Error(`countersign exited with ${code} before listening: ${stderr}`)));
    // one that never listens is killed here (the test holds no handle to it), so it cannot keep the test process alive
    waitForLog((l) => l.msg === 'countersign listening', 60_000).then((l) => {
      const port = Number(String(l.listen).split(':').pop());
      resolve({
        port, child, logs, stderr: () => stderr, waitForLog,
        stop: async (signal = 'SIGTERM') => { if (child.exitCode === null) child.kill(signal); return exited; },
      });
    }, (err: Error) => { if (child.exitCode === null) child.kill('SIGKILL'); reject(err); });
  });
}

/** Runs a one-shot CLI command (check, identity of, …). */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The usual config for a PKI dir: mTLS edge on a free port, one upstream. */
export function baseConfig(pkiDir: string, upstreamPort: number, route: Record<string, unknown> = {}, edge: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    edge: {
      certificates: [{ cert: `${pkiDir}/edge.crt`, key: `${pkiDir}/edge.key` }],
      clientAuth: { mode: 'require', ca: `${pkiDir}/client-ca.crt` },
      ...edge,
    },
    delegation: { ca: { cert: `${pkiDir}/delegation-ca.crt`, key: `${pkiDir}/delegation-ca.key` }, ttl: '1h' },
    upstreams: { backend: { servers: [`127.0.0.1:${upstreamPort}`], ca: `${pkiDir}/backend-ca.crt`, servername: 'backend.internal' } },
    routes: [{ upstream: 'backend', mode: 'connection', identity: 'delegated', ...route }],
    log: { level: 'info' },
  };
}

/** Calls `onData` with what is appended to `path`, starting over when the path names a new file. */
function followFile(path: string, onData: (d: Buffer) => void, child: ChildProcess): void {
  let ino = -1;
  let offset = 0;
  const timer = setInterval(() => {
    let st;
    try { st = statSync(path); } catch { return; }
    if (st.ino !== ino) { ino = st.ino; offset = 0; }
    if (st.size <= offset) return;
    const fd = openSync(path, 'r');
    try {
      const b = Buffer.alloc(st.size - offset);
      const n = readSync(fd, b, 0, b.length, offset);
      offset += n;
      onData(b.subarray(0, n));
    } finally { closeSync(fd); }
  }, 50);
  child.once('exit', () => setTimeout(() => clearInterval(timer), 200));
}
