/**
 * The results as one table (metrics down, targets across, ratios to nginx),
 * the targets from issue 7 marked met or missed, and the micro-benchmarks;
 * as plain text for the terminal and as Markdown for bench/results and
 * docs/performance.md.
 */
import type { MachineInfo } from './machine.js';
import { median, round3 } from './stats.js';

export type TargetId = 'direct' | 'connection' | 'http' | 'http-header' | 'nginx' | 'nginx-stream' | 'haproxy-tcp' | 'haproxy-http' | 'caddy';
export type CountersignId = 'connection' | 'http' | 'http-header';

export const TARGET_LABELS: Record<TargetId, string> = {
  direct: 'backend direct',
  connection: 'countersign connection, delegated',
  http: 'countersign http, delegated',
  'http-header': 'countersign http, header (kes)',
  nginx: 'nginx http proxy, 1 worker (KES guide)',
  'nginx-stream': 'nginx stream + proxy_ssl, 1 worker',
  'haproxy-tcp': 'HAProxy mode tcp, ssl both sides, 1 thread',
  'haproxy-http': 'HAProxy mode http, 1 thread',
  caddy: 'Caddy reverse_proxy, GOMAXPROCS=1',
};

export const SHORT_LABELS: Record<TargetId, string> = {
  direct: 'direct (floor)',
  connection: 'cs connection',
  http: 'cs http delegated',
  'http-header': 'cs http header',
  nginx: 'nginx http',
  'nginx-stream': 'nginx stream',
  'haproxy-tcp': 'haproxy tcp',
  'haproxy-http': 'haproxy http',
  caddy: 'caddy',
};

/**
 * The peers each countersign mode is judged against: connection mode is an L4
 * proxy (one upstream TLS connection per client connection, bytes piped), http
 * mode an L7 one.
 */
export const PEERS_OF: Record<CountersignId, TargetId[]> = {
  connection: ['nginx-stream', 'haproxy-tcp'],
  http: ['nginx', 'haproxy-http', 'caddy'],
  'http-header': ['nginx', 'haproxy-http', 'caddy'],
};
export const isCountersign = (id: TargetId): id is CountersignId => id === 'connection' || id === 'http' || id === 'http-header';

/** The best of `peers` by a metric's medians: the highest rate, or the lowest cost. */
export function bestPeer(peers: TargetId[], values: (id: TargetId) => number, higherIsBetter = true): TargetId {
  const ok = peers.filter((id) => Number.isFinite(values(id)));
  if (!ok.length) return peers[0];
  return ok.reduce((a, b) => ((higherIsBetter ? values(b) > values(a) : values(b) < values(a)) ? b : a));
}

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
  /** the open-loop points at half the best peer's keep-alive max (of its kind, per repeat): every target of the kind at that rate */
  halfLoadRate: number;
  halfLoadP50Ms: number;
  halfLoadP99Ms: number;
  directAtRateP99Ms: number;
  addedP99Ms: number;
  addedP50Ms: number;
  /** countersign only: the open-loop points at half its own keep-alive max (per repeat), itself, the best peer of its kind and direct at that rate */
  halfOwnRate?: number;
  halfOwnP99Ms?: number;
  halfOwnAddedP99Ms?: number;
  /** the best peer of its kind (by that repeat's keep-alive max; the one most often best), and its p99 added over direct at the same rate */
  halfOwnPeer?: TargetId;
  peerAtHalfOwnAddedP99Ms?: number;
  directAtHalfOwnP99Ms?: number;
  /** connection mode only: p99 added at the half-best-L4-peer rate right after the repeat's first-time identities (not steady state; no target) */
  afterFloodRate?: number;
  afterFloodAddedP99Ms?: number;
  afterFloodIdentities?: number;
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

/** the summary's always-present numbers (one row each in the table) */
type NumericKey = { [K in keyof TargetSummary]-?: undefined extends TargetSummary[K] ? never : TargetSummary[K] extends number ? K : never }[keyof TargetSummary];
type Row = { label: string; key: NumericKey; unit: string; ratio: 'higher' | 'lower' | 'none' };

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
  { label: 'open-loop rate at 50% of the best peer\'s max, req/s', key: 'halfLoadRate', unit: '', ratio: 'none' },
  { label: 'p50 ms at that rate', key: 'halfLoadP50Ms', unit: '', ratio: 'none' },
  { label: 'p99 ms at that rate', key: 'halfLoadP99Ms', unit: '', ratio: 'none' },
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

/** countersign's cells carry the ratio to the best peer of its kind for that row. */
function cell(row: Row, id: TargetId, s: Record<TargetId, TargetSummary>): string {
  const v = s[id][row.key];
  if (!Number.isFinite(v)) return '–';
  if (row.ratio === 'none' || !isCountersign(id)) return fmt(v);
  const peer = bestPeer(PEERS_OF[id], (p) => s[p]?.[row.key] ?? NaN, row.ratio === 'higher');
  const n = s[peer]?.[row.key];
  if (n === undefined || !Number.isFinite(n) || n === 0) return fmt(v);
  return `${fmt(v)} (${(v / n).toFixed(2)}× ${SHORT_LABELS[peer]})`;
}

export function resultsTable(order: TargetId[], s: Record<TargetId, TargetSummary>): { header: string[]; rows: string[][] } {
  const header = ['metric (median of repeats)', ...order.map((id) => SHORT_LABELS[id])];
  const rows = ROWS.filter((r) => order.some((id) => Number.isFinite(s[id][r.key])))
    .map((r) => [r.label, ...order.map((id) => cell(r, id, s))]);
  return { header, rows };
}

const COUNTERSIGN: CountersignId[] = ['connection', 'http', 'http-header'];

/** ours ÷ theirs for two added latencies; none when either is at or below direct's (noise: a ratio would mean nothing) */
function p99Ratio(ours: number, theirs: number): string {
  return ours > 0 && theirs > 0 ? `${(ours / theirs).toFixed(2)}×` : '–';
}

/**
 * Issue 24's latency point: each countersign target at half its own
 * keep-alive max, beside the best peer of its kind and direct at that same
 * rate (medians of the repeats).
 */
export function halfOwnTable(s: Record<TargetId, TargetSummary>): { header: string[]; rows: string[][] } {
  const header = ['at half its own max (median of repeats)', 'rate req/s', 'p99 ms', 'p99 ms added over direct', 'best peer of its kind at that rate', 'its p99 ms added', 'ratio', 'p99 ms, direct'];
  const rows = COUNTERSIGN.filter((id) => Number.isFinite(s[id].halfOwnAddedP99Ms ?? NaN)).map((id) => {
    const x = s[id];
    const ours = x.halfOwnAddedP99Ms!;
    const theirs = x.peerAtHalfOwnAddedP99Ms ?? NaN;
    return [SHORT_LABELS[id], fmt(x.halfOwnRate ?? NaN), fmt(x.halfOwnP99Ms ?? NaN), fmt(ours), x.halfOwnPeer ? SHORT_LABELS[x.halfOwnPeer] : '–', fmt(theirs),
      p99Ratio(ours, theirs), fmt(x.directAtHalfOwnP99Ms ?? NaN)];
  });
  return { header, rows };
}

/** The connection-mode point right after a repeat's first-time identities, beside the steady-state one at the same rate; undefined when not measured. */
export function afterFloodLine(s: Record<TargetId, TargetSummary>): string | undefined {
  const c = s.connection;
  if (!Number.isFinite(c.afterFloodAddedP99Ms ?? NaN)) return undefined;
  return `${SHORT_LABELS.connection} right after ${fmt(c.afterFloodIdentities ?? NaN)} first-time identities (each repeat's, measured the moment they are done, direct at the same rate after it): `
    + `p99 added over direct ${fmt(c.afterFloodAddedP99Ms!)} ms at ${fmt(c.afterFloodRate ?? NaN)} req/s (half the best L4 peer's max); in steady state, before them, ${fmt(c.addedP99Ms)} ms at the same rate. Not a target: a measure of the flood's aftermath.`;
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
 * Issue 19's targets, each against the best peer of its kind in the same run.
 * Ratio targets are judged on the median of the per-repeat ratios: within a
 * repeat the targets run seconds apart, so a slow minute on a shared machine
 * moves both sides of a ratio together. The best peer is the one with the
 * better median for that metric.
 */
export function evaluateGoals(s: Record<TargetId, TargetSummary>, micro: MicroSummary | undefined, series: Series): Goal[] {
  const goals: Goal[] = [];
  const peerFor = (metric: keyof Series, id: CountersignId) => bestPeer(PEERS_OF[id], (p) => s[p]?.[metric] ?? NaN, metric !== 'kaCpuUsPerReq');
  const ratioGoal = (goal: string, metric: keyof Series, id: CountersignId, min: number, named?: TargetId) => {
    const peer = named ?? peerFor(metric, id);
    const r = perRepeatRatio(series[metric][id], series[metric][peer]);
    const ok = r >= min;
    goals.push({ goal: goal.replace('PEER', SHORT_LABELS[peer]), measured: `${r.toFixed(2)}× (medians ${fmt(s[id][metric])} vs ${fmt(s[peer][metric])})`, status: ok ? 'met' : 'missed', by: ok ? undefined : `${Math.round((1 - r / min) * 100)}% short of ${min}×` });
  };
  const maxGoal = (goal: string, v: number, max: number, unit: string) => {
    const ok = v <= max;
    goals.push({ goal, measured: `${fmt(v)} ${unit}`, status: ok ? 'met' : 'missed', by: ok ? undefined : `${fmt(v - max)} ${unit} over (${(v / max).toFixed(2)}× the limit)` });
  };
  ratioGoal('connection mode keep-alive req/s ≥ 1.0× the better L4 peer (PEER)', 'kaRps', 'connection', 1.0);
  {
    const peer = peerFor('kaRps', 'connection');
    const r = perRepeatRatio(series.kaCpuUsPerReq.connection, series.kaCpuUsPerReq[peer]);
    const ok = r <= 1;
    goals.push({ goal: `connection mode CPU/request ≤ that peer's (${SHORT_LABELS[peer]})`, measured: `${r.toFixed(2)}× (medians ${fmt(s.connection.kaCpuUsPerReq)} µs vs ${fmt(s[peer].kaCpuUsPerReq)} µs)`, status: ok ? 'met' : 'missed', by: ok ? undefined : `${Math.round((r - 1) * 100)}% more CPU` });
  }
  ratioGoal('connection mode new conn/s, returning identity ≥ 1.0× the better L4 peer (PEER)', 'ncRps', 'connection', 1.0);
  {
    const r = perRepeatRatio(series.ftRps.connection, series.ncRps.connection);
    const ok = r >= 0.7;
    goals.push({ goal: 'connection mode first-time identities ≥ 0.7× its own returning rate', measured: `${r.toFixed(2)}× (medians ${fmt(s.connection.ftRps)} vs ${fmt(s.connection.ncRps)})`, status: ok ? 'met' : 'missed', by: ok ? undefined : `${Math.round((1 - r / 0.7) * 100)}% short of 0.7×` });
  }
  for (const id of ['http', 'http-header'] as const) {
    // the issue names nginx for http mode; the table beside it shows the best L7 peer
    ratioGoal(`${SHORT_LABELS[id]}: new conn/s (returning) ≥ 1.0× nginx`, 'ncRps', id, 1.0, 'nginx');
    ratioGoal(`${SHORT_LABELS[id]}: keep-alive req/s ≥ 0.8× nginx (stretch 1.0×)`, 'kaRps', id, 0.8, 'nginx');
  }
  if (micro) {
    maxGoal('mint on a cache miss ≤ 0.1 ms median', micro.mintMissMedianUs, 100, 'µs');
    maxGoal('cached lookup ≤ 5 µs median', micro.cachedLookupMedianUs, 5, 'µs');
  }
  const p99Goal = (goal: string, ours: number, theirs: number, factor: number, rate: number) => {
    // a peer that adds nothing measurable (at or below direct's p99) sets the limit at direct's own
    const limit = factor * Math.max(0, theirs);
    const ok = ours <= limit;
    const ratio = p99Ratio(ours, theirs);
    goals.push({
      goal, measured: `${fmt(ours)} ms vs ${fmt(theirs)} ms at ${fmt(rate)} req/s${ratio === '–' ? '' : ` (${ratio})`}`,
      status: ok ? 'met' : 'missed', by: ok ? undefined : `${fmt(ours - limit)} ms over ${factor === 1 ? 'that' : `${factor}× that`}`,
    });
  };
  for (const id of COUNTERSIGN) {
    // at half the best peer's max: issue 27's target for connection mode is 2× that peer's own; http mode keeps issue 19's (≤ the peer's own)
    const peer = bestPeer(PEERS_OF[id], (p) => s[p]?.kaRps ?? NaN);
    const factor = id === 'connection' ? 2 : 1;
    p99Goal(`${SHORT_LABELS[id]}: p99 added over direct at half the best peer's max ≤ ${factor === 1 ? '' : `${factor}× `}that peer's own (${SHORT_LABELS[peer]})`,
      s[id].addedP99Ms, s[peer].addedP99Ms, factor, s[id].halfLoadRate);
  }
  for (const id of COUNTERSIGN) {
    // issue 24: at half our own max, ≤ 2× the best peer of its kind at that same rate
    const x = s[id];
    if (!Number.isFinite(x.halfOwnAddedP99Ms ?? NaN)) continue;
    const kind = id === 'connection' ? 'L4' : 'L7';
    p99Goal(`${SHORT_LABELS[id]}: p99 added over direct at half its own max ≤ 2× the best ${kind} peer's at that rate (${x.halfOwnPeer ? SHORT_LABELS[x.halfOwnPeer] : '–'})`,
      x.halfOwnAddedP99Ms!, x.peerAtHalfOwnAddedP99Ms ?? NaN, 2, x.halfOwnRate ?? NaN);
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
