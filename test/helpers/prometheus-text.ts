/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4),
 * for tests: every line must be a HELP, a TYPE, a comment, blank, or a sample
 * of a declared family; label values are unescaped; histograms must have
 * cumulative buckets ending in +Inf equal to _count. Anything else throws, so a
 * malformed /metrics fails the test instead of being half read.
 * (No maintained npm parser exists; prom-client writes only this subset.)
 */
export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Family { name: string; type: string; help?: string; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    const at = `line ${i + 1} (${JSON.stringify(line)})`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`${at}: bad metric name`);
      const f = families.get(name) ?? { name, type: 'untyped', samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${at}: unknown type`);
        if (f.samples.length) throw new Error(`${at}: TYPE after samples`);
        f.type = rest;
      } else {
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      families.set(name, f);
      return;
    }
    const s = parseSample(line, at);
    const family = familyOf(families, s.name);
    if (!family) throw new Error(`${at}: sample of an undeclared family`);
    family.samples.push(s);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function parseSample(line: string, at: string): Sample {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!NAME.test(name)) throw new Error(`${at}: bad sample name`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('="', i);
      if (eq < 0) throw new Error(`${at}: bad label`);
      const label = line.slice(i, eq);
      if (!LABEL.test(label)) throw new Error(`${at}: bad label name ${label}`);
      if (label in labels) throw new Error(`${at}: label ${label} twice`);
      i = eq + 2;
      let value = '';
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error(`${at}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          if (e === 'n') value += '\n'; else if (e === '\\' || e === '"') value += e; else throw new Error(`${at}: bad escape \\${e}`);
        } else value += c;
      }
      labels[label] = value;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`${at}: expected , or }`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`${at}: expected a space before the value`);
  const parts = line.slice(i + 1).split(' ');
  if (parts.length > 2) throw new Error(`${at}: too many fields`);
  const value = parts[0] === '+Inf' ? Infinity : parts[0] === '-Inf' ? -Infinity : parts[0] === 'NaN' ? NaN : Number(parts[0]);
  if (parts[0] === '' || (Number.isNaN(value) && parts[0] !== 'NaN')) throw new Error(`${at}: bad value`);
  if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${at}: bad timestamp`);
  return { name, labels, value };
}

function familyOf(families: Map<string, Family>, sample: string): Family | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return undefined;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, Sample[]>();
  const key = (l: Record<string, string>) => JSON.stringify(Object.entries(l).filter(([k]) => k !== 'le').sort());
  for (const s of f.samples) if (s.name === `${f.name}_bucket`) {
    if (s.labels.le === undefined) throw new Error(`${f.name}: bucket without le`);
    series.set(key(s.labels), [...(series.get(key(s.labels)) ?? []), s]);
  }
  for (const [k, buckets] of series) {
    let prev = -Infinity;
    let last = 0;
    for (const b of buckets) {
      const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
      if (!(le > prev)) throw new Error(`${f.name}${k}: buckets not in increasing order`);
      if (b.value < last) throw new Error(`${f.name}${k}: buckets not cumulative`);
      prev = le;
      last = b.value;
    }
    if (prev !== Infinity) throw new Error(`${f.name}${k}: no +Inf bucket`);
    const count = f.samples.find((s) => s.name === `${f.name}_count` && key(s.labels) === k);
    if (!count || count.value !== last) throw new Error(`${f.name}${k}: _count does not equal the +Inf bucket`);
  }
}

/** The value of one series (labels matched exactly on the ones given; others ignored), summed when several match. */
export function metricValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}, sampleName = name): number {
  const f = familyOf(families, sampleName) ?? families.get(name);
  if (!f) throw new Error(`no metric family ${name}`);
  return f.samples
    .filter((s) => s.name === sampleName && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
