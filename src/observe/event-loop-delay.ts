/**
 * Event-loop delay as a Prometheus histogram: a timer due every `intervalMs`
 * records how late it ran. Everything a proxy does runs on this one loop, so
 * a late timer is a request or handshake that waited: a long synchronous
 * task, a GC pause, or a CPU the process did not get. Being a histogram, it
 * sums across worker processes and over any window
 * (`histogram_quantile(0.99, rate(countersign_event_loop_delay_seconds_bucket[5m]))`).
 *
 * prom-client's default `nodejs_eventloop_lag_*` gauges come from
 * `perf_hooks.monitorEventLoopDelay`, whose samples are the whole time between
 * two of its 10 ms ticks: an idle process shows a p50 of 10 ms. These are the
 * delay alone. One timer callback per interval costs ~1 µs (100 a second).
 */
import { performance } from 'node:perf_hooks';

/** What the sampler records into (a prom-client Histogram's observe, in seconds). */
export interface DelaySink { observe(seconds: number): void }

export class EventLoopDelaySampler {
  private timer: NodeJS.Timeout | undefined;
  private due = 0;

  constructor(private readonly sink: DelaySink, private readonly intervalMs = 10) {}

  start(): void {
    if (this.timer) return;
    this.due = performance.now() + this.intervalMs;
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
    // never what keeps the process alive
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    this.sink.observe(Math.max(0, now - this.due) / 1000);
    this.due = now + this.intervalMs;
    this.timer!.refresh();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
