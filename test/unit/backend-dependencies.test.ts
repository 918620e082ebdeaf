/**
 * countersign/backend is installed by backends that know nothing of the proxy:
 * it may reach only pki/, delegation/ and errors, and no package but Node's own.
 * Walks the compiled module graph from the entry point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const IMPORT = /(?:^|[;\n])\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

function graph(entry: string): { files: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  }
  return { files: [...seen].map((f) => relative(DIST_SRC, f)).sort(), packages: [...packages].sort() };
}

test('the backend entry point reaches only backend/, pki/, delegation/ and errors', () => {
  const { files } = graph(resolve(DIST_SRC, 'backend/index.js'));
  assert.ok(files.includes('backend/identifier.js') && files.includes('delegation/extension-codec.js'), 'the walk found the graph');
  const outside = files.filter((f) => !/^(backend|pki|delegation)\//.test(f) && f !== 'errors.js');
  assert.deepEqual(outside, []);
});

test('the backend needs no package but node: built-ins (no @peculiar/x509, pino, lru-cache)', () => {
  const { files, packages } = graph(resolve(DIST_SRC, 'backend/index.js'));
  assert.deepEqual(packages.filter((p) => !p.startsWith('node:')), [], `reached through ${files.join(', ')}`);
  assert.ok(!files.includes('pki/issue-certificate.js') && !files.includes('pki/index.js'));
});

test('the walk would notice a forbidden import (the check can fail)', () => {
  // delegation/index.js re-exports the minter, which needs lru-cache
  assert.ok(graph(resolve(DIST_SRC, 'delegation/index.js')).packages.includes('lru-cache'));
});
