#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2
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
// with the environment).
// `node bin/countersign.js` does not read the shebang: give the flag yourself (or set
// NODE_OPTIONS), and MALLOC_ARENA_MAX in the environment.
await import('../dist/src/cli/main.js');
