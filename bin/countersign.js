#!/usr/bin/env node
import './require-node.js';
// SIGUSR1 must never open a Node inspector (it would let anyone on the host run code
// in the process that holds the delegation CA key). A JavaScript listener replaces
// Node's own handler, so one is installed before the proxy loads, in the primary
// and in every worker (they run this file too); `countersign start` gives SIGUSR1 its
// meaning (reopen log and audit files). Not --disable-sigusr1: with it, Node 24 ignores
// the listener and the signal kills the process.
process.on('SIGUSR1', () => {});
await import('../dist/src/cli/main.js');
