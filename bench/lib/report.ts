/**
 * The results as one table (metrics down, targets across, ratios to nginx),
 * the targets from issue 7 marked met or missed, and the micro-benchmarks;
 * as plain text for the terminal and as Markdown for bench/results and
 * docs/performance.md.
 */
import type { MachineInfo } from './machine.js';
import { median, round3 } from './stats.js';

export type TargetId = 'direct' | 'connection' | 'http' | 'http-header' | 'nginx';

export const TARGET_LABELS: Record<TargetId, string> = {
  direct: 'backend direct',
  connection: 'countersign connection, delegated',
  http: 'countersign http, delegated',
  'http-header': 'countersign http, header (kes)',
  nginx: 'nginx 1 worker (KES guide)',
};

export const SHORT_LABELS: Record<TargetId, string> = {
  direct: 'direct (floor)',
  connection: 'cs connection',
  http: 'cs http delegated',
  'http-header': 'cs http header',
  nginx: 'nginx',
};

/** Median of each metric over the repeats, per target. NaN where not applicable. */
export interface TargetSummary {
  kaRps: number;
  kaCpuUsPerReq: number;
  kaP50Ms: number;
  kaP99Ms: number;
  backendCpuUsPerReq: number;
  ncRps: number;
  ncCpuUsPerConn: number;
  ftRps: number;
  ftCpuUsPerConn: number;
  ncNodeRps: number;
  ncNodeCpuUsPerConn: number;
  halfLoadRate: number;
  halfLoadP50Ms: number;
  halfLoadP99Ms: number;
  directAtRateP99Ms: number;
  addedP99Ms: number;
  addedP50Ms: number;
  /** VmHWM after the keep-alive and returning-identity points of the first repeat (one client identity) */
  steadyRssMiB: number;
  /** VmHWM at the end, after all first-time identities */
  peakRssMiB: number;
  firstTimeIdentities: number;
}

export interface Goal { goal: string; measured: string; status: 'met' | 'missed'; by?: string }

export interface MicroSummary {
  iterations: number;
  mintMissMedianUs: number;
  mintMissP90Us: number;
  mintPlusContextMedianUs: number;
  cachedLookupMedianUs: number;
  identifyReturningMedianUs: number;
}

type Row = { label: string; key: keyof TargetSummary; unit: string; ratio: 'higher' | 'lower' | 'none' };

const ROWS: Row[] = [
  { label: 'keep-alive req/s', key: 'kaRps', unit: '', ratio: 'higher' },
  { label: 'proxy CPU µs / request (keep-alive)', key: 'kaCpuUsPerReq', unit: '', ratio: 'lower' },
  { label: 'p50 ms at max load (keep-alive)', key: 'kaP50Ms', unit: '', ratio: 'none' },
  { label: 'p99 ms at max load (keep-alive)', key: 'kaP99Ms', unit: '', ratio: 'none' },
  { label: 'new conn/s, returning identity (ab)', key: 'ncRps', unit: '', ratio: 'higher' },
  { label: 'proxy CPU µs / new conn, returning', key: 'ncCpuUsPerConn', unit: '', ratio: 'lower' },
  { label: 'new conn/s, first-time identity (node client)', key: 'ftRps', unit: '', ratio: 'higher' },
  { label: 'proxy CPU µs / new conn, first-time', key: 'ftCpuUsPerConn', unit: '', ratio: 'lower' },
  { label: 'new conn/s, returning identity (node client)', key: 'ncNodeRps', unit: '', ratio: 'higher' },
  { label: 'proxy CPU µs / new conn, returning (node client)', key: 'ncNodeCpuUsPerConn', unit: '', ratio: 'lower' },
  { label: 'open-loop rate at 50% of own max, req/s', key: 'halfLoadRate', unit: '', ratio: 'none' },
  { label: 'p50 ms at 50% load', key: 'halfLoadP50Ms', unit: '', ratio: 'none' },
  { label: 'p99 ms at 50% load', key: 'halfLoadP99Ms', unit: '', ratio: 'none' },
  { label: 'p99 ms, direct at the same rate', key: 'directAtRateP99Ms', unit: '', ratio: 'none' },
  { label: 'p99 ms added over direct', key: 'addedP99Ms', unit: '', ratio: 'none' },
  { label: 'p50 ms added over direct', key: 'addedP50Ms', unit: '', ratio: 'none' },
  { label: 'backend CPU µs / request (keep-alive)', key: 'backendCpuUsPerReq', unit: '', ratio: 'none' },
  { label: 'peak RSS MiB, one identity (VmHWM)', key: 'steadyRssMiB', unit: '', ratio: 'lower' },
  { label: 'peak RSS MiB after all first-time identities', key: 'peakRssMiB', unit: '', ratio: 'lower' },
];

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const v = round3(x);
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
}

/** Median of per-repeat ratios: both sides of a ratio ran seconds apart, so a slow minute moves both. */
export function perRepeatRatio(values: number[], base: number[]): number {
  return median(values.map((v, i) => v / base[i]));
}

/** A table cell for repeated points: the median, and the per-repeat ratio to `base` when given. */
export function seriesCell(values: number[], base?: number[]): string {
  return `${fmt(median(values))}${base ? ` (${perRepeatRatio(values, base).toFixed(2)}×)` : ''}`;
}

function cell(row: Row, id: TargetId, s: Record<TargetId, TargetSummary>): string {
  const v = s[id][row.key];
  if (!Number.isFinite(v)) return '–';
  if (row.ratio === 'none' || id === 'nginx' || id === 'direct') return fmt(v);
  const n = s.nginx[row.key];
  if (!Number.isFinite(n) || n === 0) return fmt(v);
  return `${fmt(v)} (${(v / n).toFixed(2)}×)`;
}

export function resultsTable(order: TargetId[], s: Record<TargetId, TargetSummary>): { header: string[]; rows: string[][] } {
  const header = ['metric (median of repeats)', ...order.map((id) => SHORT_LABELS[id])];
  const rows = ROWS.filter((r) => order.some((id) => Number.isFinite(s[id][r.key])))
    .map((r) => [r.label, ...order.map((id) => cell(r, id, s))]);
  return { header, rows };
}

export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ':---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Per-repeat values of the metrics the ratio targets use, in repeat order (for paired ratios). */
export type Series = Record<'kaRps' | 'kaCpuUsPerReq' | 'ncRps' | 'ftRps', Record<TargetId, number[]>>;

/**
 * Ratio targets are judged on the median of the per-repeat ratios: within a
 * repeat the targets run seconds apart, so a slow minute on a shared machine
 * moves both sides of a ratio together.
 */
export function evaluateGoals(s: Record<TargetId, TargetSummary>, micro: MicroSummary | undefined, series: Series): Goal[] {
  const goals: Goal[] = [];
  const paired = (metric: keyof Series, id: TargetId) => perRepeatRatio(series[metric][id], series[metric].nginx);
  const ratioGoal = (goal: string, metric: keyof Series, id: TargetId, min: number) => {
    const r = paired(metric, id);
    const ok = r >= min;
    goals.push({ goal, measured: `${r.toFixed(2)}× (medians ${fmt(s[id][metric])} vs ${fmt(s.nginx[metric])})`, status: ok ? 'met' : 'missed', by: ok ? undefined : `${Math.round((1 - r / min) * 100)}% short of ${min}×` });
  };
  const maxGoal = (goal: string, v: number, max: number, unit: string) => {
    const ok = v <= max;
    goals.push({ goal, measured: `${fmt(v)} ${unit}`, status: ok ? 'met' : 'missed', by: ok ? undefined : `${fmt(v - max)} ${unit} over (${(v / max).toFixed(2)}× the limit)` });
  };
  ratioGoal('connection mode keep-alive req/s ≥ 1.0× nginx', 'kaRps', 'connection', 1.0);
  {
    const r = paired('kaCpuUsPerReq', 'connection');
    const ok = r <= 1;
    goals.push({ goal: 'connection mode CPU/request ≤ nginx', measured: `${r.toFixed(2)}× (medians ${fmt(s.connection.kaCpuUsPerReq)} µs vs ${fmt(s.nginx.kaCpuUsPerReq)} µs)`, status: ok ? 'met' : 'missed', by: ok ? undefined : `${Math.round((r - 1) * 100)}% more CPU` });
  }
  ratioGoal('http mode (delegated) keep-alive req/s ≥ 0.5× nginx', 'kaRps', 'http', 0.5);
  ratioGoal('http mode (header) keep-alive req/s ≥ 0.5× nginx', 'kaRps', 'http-header', 0.5);
  for (const id of ['connection', 'http', 'http-header'] as const) {
    ratioGoal(`${SHORT_LABELS[id]}: new conn/s, returning identity ≥ 0.8× nginx`, 'ncRps', id, 0.8);
  }
  for (const id of ['connection', 'http', 'http-header'] as const) {
    ratioGoal(`${SHORT_LABELS[id]}: new conn/s, first-time identity ≥ 0.5× nginx`, 'ftRps', id, 0.5);
  }
  if (micro) {
    maxGoal('mint on a cache miss ≤ 0.1 ms median', micro.mintMissMedianUs, 100, 'µs');
    maxGoal('cached lookup ≤ 5 µs median', micro.cachedLookupMedianUs, 5, 'µs');
  }
  for (const id of ['connection', 'http', 'http-header', 'nginx'] as const) {
    maxGoal(`${SHORT_LABELS[id]}: p99 added over direct at 50% of its max ≤ 1 ms`, s[id].addedP99Ms, 1, 'ms');
  }
  return goals;
}

export function goalsMarkdown(goals: Goal[]): string {
  return markdownTable(['target', 'measured', 'result'], goals.map((g) => [g.goal, g.measured, g.status === 'met' ? 'met' : `**missed**: ${g.by}`]));
}

export function microMarkdown(m: MicroSummary): string {
  return markdownTable(['micro-benchmark (in-process)', 'median'], [
    [`mint on a cache miss (full key pool), n=${m.iterations}, median of 3 runs`, `${fmt(m.mintMissMedianUs)} µs (p90 ${fmt(m.mintMissP90Us)} µs)`],
    ['mint + build the upstream SecureContext', `${fmt(m.mintPlusContextMedianUs)} µs`],
    ['cached lookup (credentialsFor hit)', `${fmt(m.cachedLookupMedianUs)} µs`],
    ['identify a returning client (ClientVerifier.verify, cached)', `${fmt(m.identifyReturningMedianUs)} µs`],
  ]);
}

export function machineMarkdown(m: MachineInfo): string {
  return [
    `- CPU: ${m.nproc} × ${m.cpuModel} (nproc ${m.nproc}), ${m.memoryGiB} GiB RAM, Linux ${m.kernel}`,
    `- Node.js ${m.node} (OpenSSL ${m.nodeOpenssl}), nginx ${m.nginx} (Debian), OpenSSL ${m.openssl}, ab ${m.ab}`,
  ].join('\n');
}
