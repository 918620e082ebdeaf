#!/usr/bin/env node
// SIGUSR1 must never open a Node inspector (it would let anyone on the host run code
// in the process that holds the delegation CA key). A listener replaces Node's own
// handler, so one is installed before anything else loads; `countersign start`
// gives SIGUSR1 its meaning (reopen log and audit files). Worker processes also
// run with --disable-sigusr1.
process.on('SIGUSR1', () => {});
await import('../dist/src/cli/main.js');
