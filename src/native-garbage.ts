/**
 * Native memory V8 cannot see. A TLS context (~35 KiB of OpenSSL state) or a
 * parsed X509Certificate lives outside V8's heap, held by a JavaScript wrapper
 * of a few dozen bytes; V8 does not count it, so nothing makes it collect the
 * wrappers of contexts the minted-credentials cache has let go. With a flood
 * of first-time identities the dead contexts piled up between V8's own major
 * collections (which its heap alone rarely needs) and glibc kept the memory
 * they had held: RSS 417–436 MiB after 10,000 identities in connection mode,
 * 211 with a full collection every 0.5 s (bench/identities.ts, docs/performance.md).
 *
 * So what lets go of such an object (a cache evicting or replacing an entry)
 * says how many native bytes became garbage, and once NATIVE_GARBAGE_BYTES of
 * it have piled up, a major collection is asked for (V8's
 * `gc({ type: 'major', execution: 'async' })`: run from a task of its own,
 * never inside the caller). The requested collection is a whole, atomic
 * mark-compact of the heap — ~20 ms of the main thread's CPU with ~1,000
 * cached identities (perf; bench/tail-probe.ts, docs/performance.md) — so it is asked for
 * only when there is native garbage to free: it used to be counted when a
 * context was *built*, which collected every ~300 first-time identities while
 * the cache was still filling and nothing had been let go. Returning
 * identities let go of nothing, so they cause none; a flood of new ones
 * causes one about every 300 identities once the cache is full and evicting.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** native bytes let go of between two requested collections */
export const NATIVE_GARBAGE_BYTES = 16 * 1024 * 1024;

type CollectGarbage = (options: { type: 'major'; execution: 'async' }) => Promise<void>;

/** null: this V8 has no gc function to give (collections are then V8's own) */
let collect: CollectGarbage | null | undefined;
let garbage = 0;
let running = false;
let requested = 0;

/**
 * V8's gc function, without `--expose-gc` on the command line: the flag set
 * at run time installs `gc` in contexts created afterwards, so one fresh
 * context hands it over; the flag is cleared again at once.
 */
function collector(): CollectGarbage | null {
  if (collect !== undefined) return collect;
  collect = null;
  try {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') collect = exposed as CollectGarbage;
    else {
      setFlagsFromString('--expose-gc');
      try { collect = runInNewContext('gc') as CollectGarbage; } finally { setFlagsFromString('--no-expose-gc'); }
    }
  } catch { collect = null; }
  return collect;
}

/**
 * `bytes` of native memory were let go of: the object holding them (a TLS
 * context, a parsed certificate) is no longer referenced by a cache, and only
 * a major collection frees it (once open connections using it are gone too).
 */
export function noteNativeGarbage(bytes: number): void {
  garbage += bytes;
  if (garbage < NATIVE_GARBAGE_BYTES || running) return;
  const gc = collector();
  if (!gc) return;
  garbage = 0;
  running = true;
  requested++;
  gc({ type: 'major', execution: 'async' }).then(
    () => { running = false; },
    () => { running = false; },
  );
}

/** Collections asked for so far (for /status and tests). */
export function nativeGarbageCollections(): number { return requested; }

/** Native bytes let go of since the last requested collection (for tests). */
export function nativeGarbagePending(): number { return garbage; }
