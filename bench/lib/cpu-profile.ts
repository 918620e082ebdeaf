/**
 * Reads a V8 .cpuprofile (`node --cpu-prof`) and sums self time per function:
 * the samples whose top frame is that function. "(program)" is time in native
 * code V8 cannot attribute (OpenSSL, libuv, the kernel below syscalls), and
 * "(garbage collector)" is GC.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface SelfTime { fn: string; where: string; selfMs: number; pct: number }

export interface ProfileSummary { totalMs: number; idleMs: number; busyMs: number; top: SelfTime[]; byArea: { area: string; selfMs: number; pct: number }[] }

function shortUrl(url: string): string {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const d = u.indexOf('/dist/');
  if (d >= 0) return u.slice(d + 6);
  return u.replace(/^node:/, 'node:');
}

/** Where a function lives, coarsely: our code, a dependency, Node's JS, native/GC. */
function areaOf(fn: string, url: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || (!url && fn !== '(idle)')) return 'native (OpenSSL, libuv, syscalls)';
  if (url.includes('node_modules/')) return `dependency: ${shortUrl(url).split('/')[0]}`;
  if (url.includes('/dist/src/')) return 'countersign';
  if (url.startsWith('node:')) return 'Node.js core (JS)';
  return 'other';
}

/**
 * `window` keeps only the samples taken between fromMs and toMs after the
 * profile started (the profiler starts with the process), so start-up (module
 * loading) and shutdown do not dilute the workload.
 */
export function summarizeCpuProfile(file: string, topN = 20, window?: { fromMs: number; toMs: number }): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const sinceStartMs = (t - p.startTime) / 1000;
    if (window && (sinceStartMs < window.fromMs || sinceStartMs > window.toMs)) continue;
    const dt = p.timeDeltas[i + 1] ?? 0; // a sample's time is the gap to the next one
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
  }
  const fns = new Map<string, SelfTime & { url: string; rawFn: string }>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    total += us;
    if (functionName === '(idle)') { idle += us; continue; }
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const e = fns.get(key) ?? { fn: name, rawFn: functionName, where, url, selfMs: 0, pct: 0 };
    e.selfMs += us / 1000;
    fns.set(key, e);
  }
  const busyMs = (total - idle) / 1000;
  const all = [...fns.values()].sort((a, b) => b.selfMs - a.selfMs);
  const areas = new Map<string, number>();
  for (const e of all) areas.set(areaOf(e.rawFn, e.url), (areas.get(areaOf(e.rawFn, e.url)) ?? 0) + e.selfMs);
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    busyMs,
    top: all.slice(0, topN).map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.selfMs), pct: Math.round((1000 * e.selfMs) / busyMs) / 10 })),
    byArea: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, ms]) => ({ area, selfMs: Math.round(ms), pct: Math.round((1000 * ms) / busyMs) / 10 })),
  };
}
