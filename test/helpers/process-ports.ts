/**
 * The TCP ports a process listens on, from `ss -ltnp` (iproute2): how a test
 * sees that SIGUSR1 opened no inspector in a process (Node's would listen on
 * 127.0.0.1:9229, or the --inspect-port given).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function listeningPorts(pid: number): Promise<number[]> {
  const { stdout } = await run('ss', ['-Hltnp']);
  const ports = new Set<number>();
  for (const line of stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[3] ?? '';
    ports.add(Number(local.slice(local.lastIndexOf(':') + 1)));
  }
  return [...ports].sort((a, b) => a - b);
}

/** The direct children of `pid` (cluster workers), from /proc/<n>/stat. */
export async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(name));
  }
  return out;
}
