/**
 * Undo of a start that fails half-way: each part that started registers how
 * to stop it, and a failure stops them in reverse order (Go's `defer`), so a
 * start that throws leaves nothing running.
 */
export class Teardown {
  private readonly steps: (() => unknown)[] = [];

  /** `step` runs when the start fails (after the steps added later). */
  add(step: () => unknown): void { this.steps.push(step); }

  /** Runs every step, last added first; a step that throws does not stop the others. */
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try { await step(); } catch { /* the start's own error is the one reported */ }
    }
  }

  /** Awaits `work`; when it throws, runs the teardown and rethrows. */
  async guard<T>(work: Promise<T> | (() => T | Promise<T>)): Promise<T> {
    try {
      return await (typeof work === 'function' ? work() : work);
    } catch (err) {
      await this.run();
      throw err;
    }
  }
}
