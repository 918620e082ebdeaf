/**
 * What the kernel knows about a process: CPU time (utime + stime from
 * /proc/<pid>/stat, in clock ticks), peak RSS (VmHWM) and children, plus the
 * machine-wide busy time from /proc/stat (to see how much else was running).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clkTck: number | undefined;
/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try { clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { clkTck = 100; }
  }
  return clkTck;
}

/** Fields of /proc/<pid>/stat after the `(comm)` field; index 0 is field 3 (state). */
function statFields(pid: number): string[] | undefined {
  let s: string;
  try { s = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process in clock ticks (0 when it is gone). */
export function cpuTicks(pid: number): number {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : 0;
}

/** utime + stime of children the process has waited for (cutime + cstime), in ticks. */
export function childCpuTicks(pid: number): number {
  const f = statFields(pid);
  return f ? Number(f[13]) + Number(f[14]) : 0;
}

/** Sum of cpuTicks over a set of processes. */
export const cpuTicksOf = (pids: number[]): number => pids.reduce((a, p) => a + cpuTicks(p), 0);

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

/** Peak resident set size (VmHWM) in KiB; 0 when unknown. */
export const peakRssKiB = (pid: number): number => statusKiB(pid, 'VmHWM');
/** Resident set size now (VmRSS) in KiB; 0 when unknown. */
export const rssKiB = (pid: number): number => statusKiB(pid, 'VmRSS');

/** Direct children of a process (e.g. an nginx master's workers). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
}

/** Machine-wide busy and total CPU time in ticks since boot (all CPUs). */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function loadAverage(): number {
  try { return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]); } catch { return 0; }
}

/** Where a process's resident memory is, MiB, from /proc/<pid>/smaps (0s when it is gone). */
export interface ResidentSplit {
  /** pages of files (the node binary, shared libraries): shared with other processes, counted in RSS anyway */
  fileMiB: number;
  /** glibc's main arena (the brk heap): the main thread's malloc, OpenSSL's and V8's native allocations */
  brkHeapMiB: number;
  /** glibc's thread arenas (64 MiB-aligned anonymous mappings): malloc of the libuv and V8 worker threads */
  threadArenasMiB: number;
  /** the other anonymous mappings: V8's heap pages, large mallocs (mmap'd), stacks */
  otherAnonMiB: number;
}

const ARENA_ALIGN = 64n * 1024n * 1024n;

export function residentSplit(pid: number): ResidentSplit {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/smaps`, 'utf8'); } catch { return { fileMiB: 0, brkHeapMiB: 0, threadArenasMiB: 0, otherAnonMiB: 0 }; }
  const kib = { file: 0, brk: 0, arenas: 0, other: 0 };
  let kind: keyof typeof kib = 'other';
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const path = head[4].trim();
      if (path === '[heap]') kind = 'brk';
      else if (path && !path.startsWith('[')) kind = 'file';
      else if (!path && BigInt(`0x${head[1]}`) % ARENA_ALIGN === 0n && BigInt(`0x${head[2]}`) - BigInt(`0x${head[1]}`) <= ARENA_ALIGN) kind = 'arenas';
      else kind = 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kib[kind] += Number(rss[1]);
  }
  const mib = (k: number) => Math.round(k / 102.4) / 10;
  return { fileMiB: mib(kib.file), brkHeapMiB: mib(kib.brk), threadArenasMiB: mib(kib.arenas), otherAnonMiB: mib(kib.other) };
}
