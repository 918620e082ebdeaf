#!/usr/bin/env node
import './require-node.js';
await import('../dist/src/cli/main.js');
