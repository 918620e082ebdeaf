/**
 * Prometheus metrics (prom-client), one registry per running proxy. The hot
 * path is observed through diagnostics channels (./channels.ts) and a few
 * counters read at scrape time (minter stats, certificate expiry, server
 * health), so nothing in a connection's path knows about metrics.
 *
 * With worker processes each worker keeps its registry; the primary asks them
 * for `getMetricsAsJSON()` over IPC and sums them with prom-client's
 * AggregatorRegistry (gauges declare how they combine: `min` for health and
 * expiry). Every metric and label is listed in docs/operations.md.
 */
import { subscribe, unsubscribe, channel } from 'node:diagnostics_channel';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { EventLoopDelaySampler } from './event-loop-delay.js';
import { nativeGarbageCollections } from '../native-garbage.js';
import {
  auditWriteFailureChannel, connectionChannel, connectionRefusedChannel, handshakeFailedChannel, requestChannel, upstreamConnectChannel, upstreamHealthChannel,
  type ConnectionEvent, type ConnectionRefusedEvent, type HandshakeFailedEvent, type RequestEvent, type UpstreamConnectEvent, type UpstreamHealthEvent,
} from './channels.js';

/** What the metrics read at scrape time. */
export interface MetricsSources {
  minter?: () => { hits: number; misses: number; renewals: number; size: number; estimatedBytes: number };
  /** notAfter of every certificate that matters, by kind (edge, client-ca, delegation-ca, upstream-ca) */
  certificates?: () => { kind: string; subject: string; notAfter: Date }[];
  servers?: () => { upstream: string; server: string; healthy: boolean }[];
  /** revocation: the work done on CRLs (never per handshake) and every source with its freshness */
  revocation?: () => {
    work: { parses: number; signatureChecks: number };
    sources: { kind: string; source: string; lastSuccess?: Date; thisUpdate?: Date; entries: number; failures: number }[];
  };
}

/** event-loop delay: from a millisecond (timers are ms-granular, so less is noise) to a second */
const LOOP_DELAY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Written by whichever process holds the audit log: a worker's proxy without workers, the primary with them. */
const AUDIT_FAILURES = { name: 'countersign_audit_write_failures_total', help: 'audit records that could not be written' } as const;

export class ProxyMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources = {};
  private readonly subscriptions: [string, (m: unknown) => void][] = [];

  readonly connections = new Counter({ name: 'countersign_connections_total', help: 'client connections by listener, route, mode and outcome', labelNames: ['listener', 'route', 'mode', 'outcome'], registers: [this.registry] });
  readonly requests = new Counter({ name: 'countersign_requests_total', help: 'http-mode requests by route, status and outcome', labelNames: ['route', 'status', 'outcome'], registers: [this.registry] });
  readonly requestDuration = new Histogram({ name: 'countersign_request_duration_seconds', help: 'http-mode request time, first byte in to response end', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: 'countersign_connections_refused_total', help: 'client connections closed on arrival, before TLS, by reason (limit: limits.maxConnections reached)', labelNames: ['reason'], registers: [this.registry] });
  readonly refusals = new Counter({ name: 'countersign_handshake_refusals_total', help: 'clients refused at the edge, by listener and reason', labelNames: ['listener', 'reason'], registers: [this.registry] });
  readonly mints = new Counter({ name: 'countersign_delegation_mints_total', help: 'certificates minted by the delegation CA (first time and renewals)', registers: [this.registry] });
  readonly bytesIn = new Counter({ name: 'countersign_received_bytes_total', help: 'bytes received from clients, by route', labelNames: ['route'], registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'countersign_sent_bytes_total', help: 'bytes sent to clients, by route', labelNames: ['route'], registers: [this.registry] });
  readonly connectDuration = new Histogram({ name: 'countersign_upstream_connect_duration_seconds', help: 'upstream TCP connect and TLS handshake time', labelNames: ['upstream', 'outcome'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly healthChanges = new Counter({ name: 'countersign_upstream_health_changes_total', help: 'active health state changes of upstream servers', labelNames: ['upstream', 'server', 'state'], registers: [this.registry] });
  readonly reloads = new Counter({ name: 'countersign_reloads_total', help: 'reloads (SIGHUP, POST /reload) by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly auditFailures = new Counter({ ...AUDIT_FAILURES, registers: [this.registry] });

  readonly loopDelay = new Histogram({ name: 'countersign_event_loop_delay_seconds', help: 'how late a timer due every 10 ms ran: time a connection or request waited for the event loop (long synchronous work, GC, CPU not given)', buckets: LOOP_DELAY_BUCKETS, registers: [this.registry] });
  private readonly loopSampler = new EventLoopDelaySampler(this.loopDelay);
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const self = this;
    new Gauge({
      name: 'countersign_event_loop_utilization', help: 'share of time the event loop was busy since the previous scrape (0 to 1); across workers the average', aggregator: 'average', registers: [this.registry],
      collect() {
        const now = performance.eventLoopUtilization();
        this.set(performance.eventLoopUtilization(now, self.lastElu).utilization);
        self.lastElu = now;
      },
    });
    this.loopSampler.start();
    new Counter({
      name: 'countersign_delegation_cache_hits_total', help: 'minted credentials served from the cache', registers: [this.registry],
      collect() { this.reset(); this.inc(self.sources.minter?.().hits ?? 0); },
    });
    new Counter({
      name: 'countersign_delegation_cache_misses_total', help: 'credential cache misses (a first-time certificate, or a renewal)', registers: [this.registry],
      collect() { this.reset(); const s = self.sources.minter?.(); this.inc(s ? s.misses + s.renewals : 0); },
    });
    new Gauge({
      name: 'countersign_delegation_cache_estimated_bytes', help: 'estimated memory of the minted credentials held (TLS contexts, keys, certificates, sessions); bounded by delegation.cacheMemoryMiB', registers: [this.registry],
      collect() { this.set(self.sources.minter?.().estimatedBytes ?? 0); },
    });
    new Counter({
      name: 'countersign_native_garbage_collections_total', help: 'major garbage collections asked for after native allocations V8 cannot see (TLS contexts, parsed client certificates) added up to 16 MiB', registers: [this.registry],
      collect() { this.reset(); this.inc(nativeGarbageCollections()); },
    });
    new Gauge({
      name: 'countersign_delegation_cache_entries', help: 'minted credentials held in the cache', registers: [this.registry],
      collect() { this.set(self.sources.minter?.().size ?? 0); },
    });
    new Gauge({
      name: 'countersign_upstream_server_healthy', help: '1 while an upstream server is healthy (active and passive checks), else 0; across workers the lowest', labelNames: ['upstream', 'server'], aggregator: 'min', registers: [this.registry],
      collect() { this.reset(); for (const s of self.sources.servers?.() ?? []) this.set({ upstream: s.upstream, server: s.server }, s.healthy ? 1 : 0); },
    });
    new Gauge({
      name: 'countersign_certificate_expiry_seconds', help: 'seconds until a certificate expires (negative: expired), by kind and subject', labelNames: ['kind', 'subject'], aggregator: 'min', registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of self.sources.certificates?.() ?? []) this.set({ kind: c.kind, subject: c.subject }, Math.round((c.notAfter.getTime() - now) / 1000));
      },
    });
    new Counter({
      name: 'countersign_crl_parses_total', help: 'CRLs parsed (each once, when loaded or fetched; never per handshake)', registers: [this.registry],
      collect() { this.reset(); this.inc(self.sources.revocation?.().work.parses ?? 0); },
    });
    new Counter({
      name: 'countersign_crl_signature_checks_total', help: 'CRL signature checks (once per CRL and issuer key; never per handshake)', registers: [this.registry],
      collect() { this.reset(); this.inc(self.sources.revocation?.().work.signatureChecks ?? 0); },
    });
    const revocationSources = () => self.sources.revocation?.().sources ?? [];
    new Gauge({
      name: 'countersign_revocation_source_last_success_timestamp_seconds', help: 'when a revocation source (CRL file, distribution point, OCSP responder) was last read or answered, Unix seconds', labelNames: ['kind', 'source'], aggregator: 'min', registers: [this.registry],
      collect() { this.reset(); for (const s of revocationSources()) if (s.lastSuccess) this.set({ kind: s.kind, source: s.source }, Math.round(s.lastSuccess.getTime() / 1000)); },
    });
    new Gauge({
      name: 'countersign_revocation_source_age_seconds', help: 'age of what a revocation source last gave (now minus the CRL\'s thisUpdate)', labelNames: ['kind', 'source'], aggregator: 'max', registers: [this.registry],
      collect() { this.reset(); const now = Date.now(); for (const s of revocationSources()) if (s.thisUpdate) this.set({ kind: s.kind, source: s.source }, Math.round((now - s.thisUpdate.getTime()) / 1000)); },
    });
    new Gauge({
      name: 'countersign_revocation_source_entries', help: 'revoked entries a revocation source lists now (CRL entries; OCSP: cached answers)', labelNames: ['kind', 'source'], aggregator: 'max', registers: [this.registry],
      collect() { this.reset(); for (const s of revocationSources()) this.set({ kind: s.kind, source: s.source }, s.entries); },
    });
    new Counter({
      name: 'countersign_revocation_source_failures_total', help: 'failed reads, fetches or OCSP requests of a revocation source', labelNames: ['kind', 'source'], registers: [this.registry],
      collect() { this.reset(); for (const s of revocationSources()) this.inc({ kind: s.kind, source: s.source }, s.failures); },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'countersign_' });

    this.on(channel('countersign:edge:handshake').name as string, (m) => {
      const { verdict: v, listener } = m as { verdict: { ok: boolean; reason?: string }; listener?: string };
      if (!v.ok) this.refusals.inc({ listener: listener ?? 'main', reason: v.reason ?? 'unknown' });
    });
    this.on(handshakeFailedChannel.name as string, (m) => {
      const e = m as HandshakeFailedEvent;
      this.refusals.inc({ listener: e.listener ?? 'main', reason: `handshake failed: ${e.reason}` });
    });
    this.on('countersign:delegation:mint', () => { this.mints.inc(); });
    this.on(connectionChannel.name as string, (m) => {
      const e = m as ConnectionEvent;
      this.connections.inc({ listener: e.listener ?? 'main', route: e.route, mode: e.mode, outcome: e.outcome });
      if (e.bytesIn) this.bytesIn.inc({ route: e.route }, e.bytesIn);
      if (e.bytesOut) this.bytesOut.inc({ route: e.route }, e.bytesOut);
    });
    this.on(requestChannel.name as string, (m) => {
      const e = m as RequestEvent;
      this.requests.inc({ route: e.route, status: String(e.status), outcome: e.outcome });
      this.requestDuration.observe({ route: e.route }, e.durationMs / 1000);
    });
    this.on(upstreamConnectChannel.name as string, (m) => {
      const e = m as UpstreamConnectEvent;
      this.connectDuration.observe({ upstream: e.upstream, outcome: e.ok ? 'ok' : 'failed' }, e.durationMs / 1000);
    });
    this.on(upstreamHealthChannel.name as string, (m) => {
      const e = m as UpstreamHealthEvent;
      this.healthChanges.inc({ upstream: e.upstream, server: e.server, state: e.healthy ? 'healthy' : 'unhealthy' });
    });
    this.on(auditWriteFailureChannel.name as string, () => { this.auditFailures.inc(); });
    this.on(connectionRefusedChannel.name as string, (m) => { this.connectionsRefused.inc({ reason: (m as ConnectionRefusedEvent).reason }); });
  }

  private on(name: string, fn: (m: unknown) => void): void {
    subscribe(name, fn);
    this.subscriptions.push([name, fn]);
  }

  setSources(s: MetricsSources): void { this.sources = { ...this.sources, ...s }; }

  /** Prometheus text of this process */
  async text(): Promise<string> { return standardNaN(await this.registry.metrics()); }

  /** this process's metrics for the primary to aggregate */
  json(): Promise<MetricsJson> { return this.registry.getMetricsAsJSON(); }

  get contentType(): string { return this.registry.contentType; }

  close(): void {
    this.loopSampler.stop();
    for (const [name, fn] of this.subscriptions) unsubscribe(name, fn);
    this.subscriptions.length = 0;
  }
}

/**
 * The primary's own metric (with workers the audit log is written there), as
 * the workers send theirs, so aggregateMetrics sums it with their zeros.
 */
export async function auditMetricsJson(failureCount: number): Promise<MetricsJson> {
  const registry = new Registry();
  new Counter({ ...AUDIT_FAILURES, registers: [registry] }).inc(failureCount);
  return registry.getMetricsAsJSON();
}

/** Sums the workers' metrics (each metric by its aggregator) into Prometheus text. */
export async function aggregateMetrics(perWorker: MetricsJson[]): Promise<string> {
  return standardNaN(await AggregatorRegistry.aggregate(perWorker).metrics());
}

/**
 * prom-client writes a NaN sample (the default event-loop-lag mean before the
 * loop has a sample) as `Nan`; the exposition format spells it `NaN`, and
 * strict parsers (ours in tests, OpenMetrics ones) refuse anything else.
 */
export function standardNaN(text: string): string {
  return text.replace(/ Nan$/gm, ' NaN');
}

