/**
 * Every port the edge listens on: `listen` (named `main`) and each of
 * `listeners`, one EdgeListener each, sharing the certificate store, client
 * auth, ticket keys and the connection handler. A reload changes the set in
 * two steps, so that nothing swaps half-way: `prepare` binds the addresses
 * that are new (their connections wait until the new config is current) and
 * fails as a whole if one cannot be bound; `commit` then lets them accept,
 * renames what kept its address, and stops accepting on the addresses that
 * went (their open connections are left alone: the caller retires them).
 * Listeners on the same address keep their socket (and their connections).
 */
import type { SecureContextOptions } from 'node:tls';
import { CountersignError } from '../errors.js';
import { EdgeListener, type EdgeListenerOptions } from './edge-listener.js';
import { formatHostPort, type ListenerSpec } from '../config/index.js';
import type { EdgeStarttls } from './preamble.js';

export interface ListenerSetOptions {
  /** the options of a listener for `spec` (its name, address and preamble are the spec's) */
  optionsFor(spec: ListenerSpec): EdgeListenerOptions;
}

/** What `/status` shows of one listener. */
export interface ListenerStatus {
  name: string;
  listen: string;
  /** the address bound (the port chosen for port 0) */
  address: string;
  starttls?: EdgeStarttls;
  /** client connections open on it (handshakes included) */
  connections: number;
}

export interface PreparedListeners {
  /** the new listeners accept, renamed ones take their names, removed ones stop accepting */
  commit(): void;
  /** the listeners `prepare` bound are closed; nothing else changed */
  abort(): Promise<void>;
}

interface Slot { spec: ListenerSpec; listener: EdgeListener; address: { host: string; port: number } }

/** Which socket a spec uses: its address; for port 0 (any free port) also its name, since two such never share one. */
const slotKey = (s: ListenerSpec) => (/:0$/.test(s.listen) ? `${s.name}\0${s.listen}` : s.listen);

export class ListenerSet {
  private slots = new Map<string, Slot>();
  /** listeners a reload removed, until their last connection is gone */
  private readonly draining = new Set<EdgeListener>();
  private ticketKeys?: Buffer;

  constructor(private readonly opts: ListenerSetOptions) {}

  /**
   * Binds the listeners of `specs` that have no socket yet (held: their
   * connections wait for `commit`). Rejects with ERR_LISTEN, naming the
   * listener, when one cannot be bound; those bound by this call are closed.
   */
  async prepare(specs: readonly ListenerSpec[]): Promise<PreparedListeners> {
    const fresh = new Map<string, Slot>();
    const keys = new Set(specs.map(slotKey));
    try {
      for (const spec of specs) {
        const key = slotKey(spec);
        if (this.slots.has(key) || fresh.has(key)) continue;
        // limits.maxConnections is one budget for every listener of the process
        const listener = new EdgeListener({ ...this.opts.optionsFor(spec), openConnections: () => this.openConnections });
        if (this.ticketKeys) listener.setTicketKeys(this.ticketKeys);
        fresh.set(key, { spec, listener, address: { host: '', port: 0 } });
        try {
          fresh.get(key)!.address = await listener.listen({ held: true });
        } catch (err) {
          throw new CountersignError('ERR_LISTEN', `listener ${spec.name}: ${(err as Error).message}`, { cause: err });
        }
      }
    } catch (err) {
      await closeAll([...fresh.values()]);
      throw err;
    }
    let settled = false;
    return {
      commit: () => {
        if (settled) return;
        settled = true;
        const next = new Map<string, Slot>();
        for (const spec of specs) {
          const key = slotKey(spec);
          const kept = this.slots.get(key);
          if (kept) {
            kept.listener.retarget(spec);
            next.set(key, { ...kept, spec });
          } else {
            const f = fresh.get(key)!;
            f.listener.open(true);
            next.set(key, f);
          }
        }
        for (const [key, slot] of this.slots) {
          if (keys.has(key)) continue;
          this.draining.add(slot.listener);
          void slot.listener.stopAccepting();
        }
        this.slots = next;
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        await closeAll([...fresh.values()]);
      },
    };
  }

  /** name → the address bound */
  addresses(): Record<string, string> {
    return Object.fromEntries([...this.slots.values()].map((s) => [s.spec.name, formatHostPort(s.address)]));
  }

  /** the address of listener `name` */
  address(name: string): { host: string; port: number } | undefined {
    return [...this.slots.values()].find((s) => s.spec.name === name)?.address;
  }

  status(): ListenerStatus[] {
    return [...this.slots.values()].map((s) => ({
      name: s.spec.name, listen: s.spec.listen, address: formatHostPort(s.address), ...(s.spec.starttls ? { starttls: s.spec.starttls } : {}), connections: s.listener.openConnections,
    }));
  }


  /** the default (no-SNI) context of every listener (the certificate store's attach) */
  setSecureContext(options: SecureContextOptions): void {
    for (const l of this.all()) l.setSecureContext(options);
  }

  setTicketKeys(keys: Buffer): void {
    this.ticketKeys = keys;
    for (const l of this.all()) l.setTicketKeys(keys);
  }

  /** Stops accepting on every listener; open connections are left to the caller's drain. */
  async stopAccepting(): Promise<void> {
    await Promise.all(this.all().map((l) => { l.open(false); return l.stopAccepting(); }));
  }

  get openConnections(): number {
    for (const l of this.draining) if (l.openConnections === 0) this.draining.delete(l);
    return this.all().reduce((n, l) => n + l.openConnections, 0);
  }

  destroyAll(): void {
    for (const l of this.all()) l.destroyAll();
  }

  /** Resolves once no listener has a connection open: what a drain waits for. */
  async whenIdle(): Promise<void> {
    await Promise.all(this.all().map((l) => l.whenIdle()));
  }

  private all(): EdgeListener[] {
    return [...[...this.slots.values()].map((s) => s.listener), ...this.draining];
  }
}

async function closeAll(slots: Slot[]): Promise<void> {
  await Promise.all(slots.map((s) => { s.listener.open(false); s.listener.destroyAll(); return s.listener.stopAccepting(); }));
}
