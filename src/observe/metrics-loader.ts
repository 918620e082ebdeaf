/**
 * prom-client (with @opentelemetry/api, which it loads) is loaded only by a
 * process that keeps metrics: one with an admin listener. Measured on Node 24,
 * importing it costs ~1.5 MiB of memory that a proxy without `admin` never
 * uses; the admin listener and the primary ask for it when they need it.
 */
import type { MetricsJson } from './metrics.js';

/** Prometheus text exposition format 0.0.4 (prom-client's Registry.PROMETHEUS_CONTENT_TYPE) */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The metrics module (ProxyMetrics), loaded on first use. */
export const loadMetrics = () => import('./metrics.js');

/** Sums the workers' metrics (each metric by its aggregator) into Prometheus text. */
export async function aggregateMetrics(perWorker: MetricsJson[]): Promise<string> {
  return (await loadMetrics()).aggregateMetrics(perWorker);
}

/** The audit log's failure counter as metrics JSON (the primary's own, summed with the workers'). */
export async function auditMetricsJson(failureCount: number): Promise<MetricsJson> {
  return (await loadMetrics()).auditMetricsJson(failureCount);
}
