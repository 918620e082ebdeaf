/**
 * Starts the built CLI as a user would (`countersign start --config FILE`: node
 * with the flags of the CLI's shebang) on a port picked here. Logging is at `warn`, the counterpart of nginx's
 * `access_log off`: at `info` countersign writes one JSON line per request and
 * per connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { waitForPort } from './net.js';

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
/** the CLI to benchmark; COUNTERSIGN_BENCH_CLI points at another build (e.g. to compare a change) */
export const CLI = process.env.COUNTERSIGN_BENCH_CLI ?? join(REPO_ROOT, 'bin/countersign.js');

/**
 * The CLI's shebang (`#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2`):
 * the environment and Node flags the installed `countersign` command (the npm bin
 * link, the Docker image, the systemd unit) runs with, so the bench runs it the
 * same way through `node`.
 */
function shebang(cli: string): { env: Record<string, string>; nodeArgs: string[] } {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env\s+(?:-S\s+)?((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)node((?:\s+--[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  if (!m) return { env: {}, nodeArgs: [] };
  const env = Object.fromEntries(m[1].trim().split(/\s+/).filter(Boolean).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  return { env, nodeArgs: m[2].trim().split(/\s+/).filter(Boolean) };
}

/** The Node flags of the CLI's shebang. */
export const shebangNodeArgs = (cli = CLI): string[] => shebang(cli).nodeArgs;
/** The environment the CLI's shebang sets (over the caller's, as `env NAME=VALUE` does). */
export const shebangEnv = (cli = CLI, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv => ({ ...base, ...shebang(cli).env });

export type CountersignVariant = 'connection-delegated' | 'http-delegated' | 'http-header';

export function countersignConfig(variant: CountersignVariant, pkiDir: string, port: number, backendPort: number, logLevel = 'warn'): Record<string, unknown> {
  const route: Record<string, unknown> = { upstream: 'backend' };
  if (variant === 'connection-delegated') Object.assign(route, { mode: 'connection', identity: 'delegated' });
  if (variant === 'http-delegated') Object.assign(route, { mode: 'http', identity: 'delegated' });
  if (variant === 'http-header') {
    Object.assign(route, {
      mode: 'http', identity: 'header', header: 'kes',
      proxyCert: { cert: `${pkiDir}/proxy-client.crt`, key: `${pkiDir}/proxy-client.key` },
    });
  }
  return {
    listen: `127.0.0.1:${port}`,
    edge: {
      certificates: [{ cert: `${pkiDir}/edge.crt`, key: `${pkiDir}/edge.key` }],
      clientAuth: { mode: 'require', ca: `${pkiDir}/client-ca.crt` },
    },
    delegation: { ca: { cert: `${pkiDir}/delegation-ca.crt`, key: `${pkiDir}/delegation-ca.key` }, ttl: '1h' },
    upstreams: { backend: { servers: [`127.0.0.1:${backendPort}`], ca: `${pkiDir}/backend-ca.crt`, servername: 'backend.internal' } },
    routes: [route],
    log: { level: logLevel },
  };
}

export type RunningCountersign = RunningNodeServer;

/** A Node process started by the bench: countersign's CLI or a floor server. */
export interface RunningNodeServer {
  port: number;
  pid: number;
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for the exit (a --cpu-prof profile is written on exit) */
  stop(): Promise<number | null>;
}

export async function startCountersign(opts: {
  name: string; dir: string; port: number; config: Record<string, unknown>; nodeArgs?: string[];
  /** the CLI to start (default: CLI) */
  cli?: string;
  /** the process's environment (default: this one's), e.g. to try allocator settings */
  env?: NodeJS.ProcessEnv;
}): Promise<RunningNodeServer> {
  const file = join(opts.dir, `${opts.name}.yaml`);
  await writeFile(file, stringify(opts.config));
  const cli = opts.cli ?? CLI;
  return startNodeServer(`countersign (${opts.name})`, [...shebangNodeArgs(cli), ...(opts.nodeArgs ?? []), cli, 'start', '--config', file], opts.port, shebangEnv(cli, opts.env));
}

/** Runs `node ARGS` and waits until it accepts connections on `port`. */
export async function startNodeServer(what: string, args: string[], port: number, env?: NodeJS.ProcessEnv): Promise<RunningNodeServer> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  // Keep a bounded tail only: the pipes must be drained, the content rarely matters.
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-20_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exit = once(child, 'exit').then(([code]) => { exited = true; return code as number | null; });
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exit;
      clearTimeout(t);
      return code;
    }
    return exit;
  };
  try {
    await waitForPort(port, { alive: () => !exited, what });
  } catch (err) {
    await stop();
    throw new Error(`${what} did not start: ${(err as Error).message}\n${out}`);
  }
  return { port, pid: child.pid!, child, output: () => out, stop };
}
