/**
 * The TCP ports a process listens on, from `ss -ltnp` (iproute2): how a test
 * sees that SIGUSR1 opened no inspector in a process (Node's would listen on
 * 127.0.0.1:9229, or the --inspect-port given).
 */
import { runCommand } from './run-command.js';

export async function listeningPorts(pid: number): Promise<number[]> {
  const r = await runCommand('ss', ['-Hltnp']);
  if (r.code !== 0) throw new Error(`ss -Hltnp failed: ${r.stderr}`);
  const ports = new Set<number>();
  for (const line of r.stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[3] ?? '';
    ports.add(Number(local.slice(local.lastIndexOf(':') + 1)));
  }
  return [...ports].sort((a, b) => a - b);
}

/** The direct children of `pid` (cluster workers), from `ps`. */
export async function childPids(pid: number): Promise<number[]> {
  const r = await runCommand('ps', ['-o', 'pid=', '--ppid', String(pid)]);
  return r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
}
