/**
 * The one reference a reload swaps: the generation serving new connections and
 * requests, and the edge's certificate store, held together so a reload that
 * brings both swaps them in one step. Readers (the edge per connection, the
 * http engine per request) take what is current when they ask.
 */
import type { EdgeCertificates } from '../edge/index.js';
import type { Generation } from '../generation.js';

export interface Serving {
  readonly generation: Generation;
  readonly certificates: EdgeCertificates;
}

export class RuntimeState {
  private serving: Serving;

  constructor(first: Serving) {
    this.serving = first;
  }

  get generation(): Generation { return this.serving.generation; }
  get certificates(): EdgeCertificates { return this.serving.certificates; }

  /** Swaps in `next` (a store left out stays); returns what served before. */
  swap(next: { generation: Generation; certificates?: EdgeCertificates }): Serving {
    const before = this.serving;
    this.serving = { generation: next.generation, certificates: next.certificates ?? before.certificates };
    return before;
  }
}
