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
