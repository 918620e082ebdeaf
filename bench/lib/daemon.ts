/**
 * A peer proxy run by the benchmark in the foreground (HAProxy `-db`, `caddy
 * run`): started with its own config in its own directory, ready once it
 * accepts connections, stopped by its pid.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { waitForPort } from './net.js';
import { childPids } from './proc.js';

export interface RunningDaemon {
  port: number;
  pid: number;
  /** the process and any children (the CPU that is "the proxy") */
  pids(): number[];
  output(): string;
  stop(): Promise<void>;
}

export async function startDaemon(what: string, bin: string, args: string[], port: number, opts: { env?: NodeJS.ProcessEnv; stopSignal?: NodeJS.Signals } = {}): Promise<RunningDaemon> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-20_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exit = once(child, 'exit').then(() => { exited = true; });
  child.once('error', (err) => { out += `\n${err.message}`; exited = true; });
  const stop = async () => {
    if (exited) return;
    child.kill(opts.stopSignal ?? 'SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(t);
  };
  try {
    await waitForPort(port, { alive: () => !exited, what });
  } catch (err) {
    await stop();
    throw new Error(`${what} did not start: ${(err as Error).message}\n${out}`);
  }
  const pid = child.pid!;
  return { port, pid, pids: () => [pid, ...childPids(pid)], output: () => out, stop };
}
