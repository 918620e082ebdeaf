/**
 * A real server started by the tests (Mosquitto, Redis, MariaDB, NATS): its output kept, ready
 * when a line of it matches, stopped by its pid (SIGTERM) with its temp
 * directory (`dir`, if given) removed. `cwd`: where it starts, for the
 * relative paths of its config.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { waitForOutput } from './wait.js';

export interface ServerProcess { port: number; output(): string; stop(): Promise<void> }

export async function startServerProcess(o: { command: string; args: string[]; ready: RegExp; port: number; dir?: string; cwd?: string; readyTimeoutMs?: number }): Promise<ServerProcess> {
  const child: ChildProcess = spawn(o.command, o.args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null) { child.kill('SIGTERM'); await exited; }
    if (o.dir) await rm(o.dir, { recursive: true, force: true });
  };
  try {
    await waitForOutput(child, () => out, o.ready, o.command, o.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await stop();
    throw new Error(`${o.command} did not start: ${(err as Error).message}`);
  }
  return { port: o.port, output: () => out, stop };
}
