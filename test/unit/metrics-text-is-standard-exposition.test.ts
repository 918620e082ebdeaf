import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gauge, Registry } from 'prom-client';
import { aggregateMetrics, standardNaN } from '../../src/observe/metrics.js';
import { parsePrometheusText } from '../helpers/prometheus-text.js';

test('a NaN sample is written NaN, as the exposition format spells it, and the text parses', async () => {
  const registry = new Registry();
  new Gauge({ name: 'lag_mean_seconds', help: 'mean lag', registers: [registry] }).set(NaN);
  const raw = await registry.metrics();
  // what prom-client writes on its own, and why standardNaN exists
  assert.match(raw, / Nan$/m);
  const text = standardNaN(raw);
  assert.match(text, /^lag_mean_seconds NaN$/m);
  const families = parsePrometheusText(text);
  assert.ok(Number.isNaN(families.get('lag_mean_seconds')!.samples[0]!.value));

  const summed = await aggregateMetrics([await registry.getMetricsAsJSON()]);
  assert.doesNotMatch(summed, / Nan$/m);
  parsePrometheusText(summed);
});

test('only a whole NaN value is rewritten, never a name or label that holds the letters', () => {
  const text = 'x{why="Nan"} 1\nNan_total 2\ny Nan\n';
  assert.equal(standardNaN(text), 'x{why="Nan"} 1\nNan_total 2\ny NaN\n');
});
