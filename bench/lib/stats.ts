/** Small statistics helpers: medians of repeats, percentiles of latency samples. */

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100) of an already sorted array. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function percentiles(samples: Float64Array | number[], ps: number[]): number[] {
  const s = Float64Array.from(samples).sort();
  return ps.map((p) => percentileSorted(s, p));
}

/** Rounds for display: 3 significant digits, no exponent. */
export function round3(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const d = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(d, 6)));
}
