#!/usr/bin/env node
// Regenerates the key table in docs/configuration.md from the config schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { withReferenceTable } from '../dist/src/config/config-reference.js';
const file = new URL('../docs/configuration.md', import.meta.url);
writeFileSync(file, withReferenceTable(readFileSync(file, 'utf8')));
console.log('docs/configuration.md updated');
