/**
 * Loaded into a countersign process by bench/tail-probe.ts (`node --import`):
 * records every GC (perf_hooks 'gc' entries: kind, flags, duration) and every
 * event-loop stall longer than STALL_PROBE_MS (a 1 ms timer that ran late,
 * with the CPU time the main thread used meanwhile),
 * and writes them as JSON lines to the file STALL_PROBE_LOG names; the probe
 * joins each stall with the GCs inside it, so a stall can be told apart from
 * a pause. Times are epoch milliseconds. Never loaded by the CLI itself.
 */
import { appendFileSync } from 'node:fs';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';

const file = process.env.STALL_PROBE_LOG;
const thresholdMs = Number(process.env.STALL_PROBE_MS ?? 5);

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

interface GcRecord { at: number; ms: number; kind: string; forced: boolean; flags: number }
const epoch = (t: number) => performance.timeOrigin + t;
const write = (o: Record<string, unknown>) => { if (file) appendFileSync(file, `${JSON.stringify(o)}\n`); };

if (file) {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail = (e as unknown as { detail?: { kind: number; flags: number } }).detail;
      const flags = detail?.flags ?? 0;
      const r: GcRecord = { at: epoch(e.startTime), ms: e.duration, kind: KINDS[detail?.kind ?? 0] ?? String(detail?.kind), forced: (flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0, flags };
      write({ type: 'gc', ...r, heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 1048576) });
    }
  }).observe({ entryTypes: ['gc'] });

  let due = performance.now() + 1;
  let cpu = process.threadCpuUsage();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - due;
    due = now + 1;
    const cpuNow = process.threadCpuUsage();
    if (late > thresholdMs) {
      // CPU this thread used meanwhile: a stall it spent running is work (or a GC pause), one it did not is a CPU it did not get
      const cpuMs = (cpuNow.user - cpu.user + cpuNow.system - cpu.system) / 1000;
      // the GCs inside it are joined afterwards (their entries arrive after this callback)
      // mono: CLOCK_MONOTONIC ms, the clock of `perf record -k CLOCK_MONOTONIC`, to find the stall's samples
      const mono = Number(process.hrtime.bigint() / 1000n) / 1000 - late - 1;
      write({ type: 'stall', at: epoch(now - late - 1), mono, lateMs: Math.round(late * 10) / 10, cpuMs: Math.round(cpuMs * 10) / 10 });
    }
    cpu = cpuNow;
  }, 1);
  timer.unref();
}
