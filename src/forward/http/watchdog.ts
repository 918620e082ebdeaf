/**
 * One reusable timer for the exchanges of a connection (one after the other
 * on HTTP/1.1): armed with what to do when nothing happened for `ms`, touched
 * by every sign of life, disarmed by a flag. A touch costs a boolean, not a
 * timer re-insertion per body chunk, and an exchange costs no timer of its
 * own; the price is precision: the timeout fires between `ms` and `2 × ms`
 * after the last sign of life (nginx's timers are coarse too). Measured: a
 * setTimeout and a clearTimeout per request, and a refresh per chunk, were
 * ~3% of http mode's CPU.
 */
/** What a watchdog calls when its time is up (an exchange: no closure per request). */
export interface Timed { timeout(): void }

export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  /** the timer is scheduled (it stops rescheduling itself once disarmed) */
  private running = false;
  private armed = false;
  private touched = false;
  private onTimeout: Timed | undefined;

  constructor(private readonly ms: number) {}

  /** From now, `onTimeout.timeout()` runs once nothing has touched the watchdog for `ms` (to 2 × `ms`). */
  arm(onTimeout: Timed): void {
    this.onTimeout = onTimeout;
    this.armed = true;
    this.touched = true;
    if (this.running) return;
    this.running = true;
    if (this.timer) this.timer.refresh();
    else { this.timer = setTimeout(this.tick, this.ms); this.timer.unref(); }
  }

  /** A sign of life: the timeout starts over. */
  touch(): void { this.touched = true; }

  disarm(): void {
    this.armed = false;
    this.onTimeout = undefined;
  }

  /** No more use (the connection is gone). */
  stop(): void {
    this.disarm();
    if (this.timer) clearTimeout(this.timer);
    this.running = false;
  }

  private readonly tick = (): void => {
    if (!this.armed) { this.running = false; return; }
    if (this.touched) { this.touched = false; this.timer!.refresh(); return; }
    this.running = false;
    const fire = this.onTimeout;
    this.disarm();
    fire?.timeout();
  };
}

/**
 * Watchdogs for exchanges that run side by side (the streams of an HTTP/2
 * connection): one per exchange in progress, handed back when it is over and
 * handed out again. A watchdog's own exchange ends long before its timer
 * would fire; one made per stream kept a scheduled timer (and itself) alive
 * for timeouts.request after its stream was gone, so at thousands of calls/s
 * hundreds of thousands of them lived through young-generation collections
 * (measured with bench/grpc.ts: docs/performance.md). A pool keeps as many
 * as the most streams a connection had at once.
 */
export class Watchdogs {
  private readonly free: Watchdog[] = [];
  private stopped = false;

  constructor(private readonly ms: number) {}

  take(): Watchdog { return this.free.pop() ?? new Watchdog(this.ms); }

  /** `w`'s exchange is over (it disarmed it): the next one may use it. */
  give(w: Watchdog): void {
    w.disarm();
    if (this.stopped) w.stop();
    else this.free.push(w);
  }

  /** The connection is gone: the free timers stop, the ones in use stop when given back. */
  stop(): void {
    this.stopped = true;
    for (const w of this.free) w.stop();
    this.free.length = 0;
  }
}
