#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --heap-growing-percent=50
import './require-node.js';
// SIGUSR1 must never open a Node inspector (it would let anyone on the host run code
// in the process that holds the delegation CA key). A JavaScript listener replaces
// Node's own handler, so one is installed before the proxy loads, in the primary
// and in every worker (they run this file too); `countersign start` gives SIGUSR1 its
// meaning (reopen log and audit files). Not --disable-sigusr1: with it, Node 24 ignores
// the listener and the signal kills the process.
process.on('SIGUSR1', () => {});
// The shebang's --max-semi-space-size=2 (MiB; Node's default is 16-32): V8's young
// generation is scavenged more often, so the garbage of each connection (sockets,
// certificates, and the native memory they hold) goes sooner. Measured with
// bench/identities.ts, 10,000 identities, connection mode: RSS 543 MiB with the
// default, 319 MiB with 2, in one run each (docs/performance.md). MALLOC_ARENA_MAX=2: glibc
// has two arenas in all (the main thread's and one for every other thread: V8's workers,
// libuv's pool) instead of up to eight a core: 0.6-1 MiB at start instead of 3.4-4.2,
// and 3-16 MiB after 10,000 identities instead of 11-19 (bench/identities.ts; no CPU cost
// measured). glibc reads it only at start, hence the shebang (cluster workers inherit it
// with the environment). --heap-growing-percent=50: after a full collection V8 lets the old
// generation grow to 1.5x what survived (or 8 MiB more, whichever is larger) before the next,
// not up to 4x as it does when the process allocates fast: returning identities' connections
// promote ~13 KiB each from the small young generation, and with 4x the old space filled
// with that garbage, 14 -> 40 MiB (peak RSS with one identity 123 MiB against 99-100; the
// bench's 112 on a quiet machine). Keep-alive requests promote next to nothing, so they see
// no more collections (docs/performance.md, "Peak RSS with one identity").
// `node bin/countersign.js` does not read the shebang: give the flags on node's command
// line (NODE_OPTIONS takes --max-semi-space-size but refuses --heap-growing-percent), and
// MALLOC_ARENA_MAX in the environment.
await import('../dist/src/cli/main.js');
