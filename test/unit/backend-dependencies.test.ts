/**
 * The house rules of docs/architecture.md ("Dependency rules"), checked by
 * imports:
 *
 * - countersign/backend is installed by backends that know nothing of the
 *   proxy: it reaches only backend/, pki/ (never pki/dev/, the certificate
 *   issuance), identity-headers/ (the header codecs the proxy encodes with),
 *   delegation/'s codec and errors, and no package but Node's own (walked
 *   over the compiled module graph, so what a backend really loads);
 * - identity-headers/ imports only pki/ and errors (so the backend may use it);
 * - the edge and the backend library never import each other;
 * - the edge never imports forward/: a connection walks one way, edge → forward
 *   (the edge admits it and re-verifies it; forward routes and forwards it);
 * - the lower layers (errors, pki, identity-headers, delegation, config, observe) never import
 *   the upper ones (edge, forward, cli, proxy.ts, generation.ts, backend); nothing outside
 *   cli/ imports cli/; only the entry points import proxy.ts, and only
 *   proxy.ts and runtime/ (its named parts) import generation.ts;
 * - a folder's index.ts is its front door: a file in one folder imports
 *   another folder only through that folder's index.ts (or a sub-folder's
 *   index.ts, such as edge/acme/ or pki/dev/), type imports included. The one
 *   exception: the backend imports delegation/extension-codec directly (the
 *   codec is the contract both sides share; delegation/index.ts also brings
 *   the minter and lru-cache).
 *
 * The rules are checked over the TypeScript sources (type-only imports count),
 * and each check is shown to fail on a made-up violation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');
const IMPORT = /(?:^|[;\n])\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

function specifiers(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]);
}

function graph(entry: string): { files: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  }
  return { files: [...seen].map((f) => relative(DIST_SRC, f)).sort(), packages: [...packages].sort() };
}

/** One import between two source files, as paths relative to src/ with .ts (e.g. "edge/edge-listener.ts" → "pki/index.ts"). */
interface Edge { from: string; to: string }

function sourceEdges(): Edge[] {
  const edges: Edge[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        for (const spec of specifiers(readFileSync(path, 'utf8'))) {
          if (!spec.startsWith('.')) continue;
          edges.push({ from: relative(SRC, path), to: relative(SRC, resolve(dirname(path), spec)).replace(/\.js$/, '.ts') });
        }
      }
    }
  };
  walk(SRC);
  return edges;
}

/** "edge" for edge/acme/acme-manager.ts; the file name itself (proxy.ts, errors.ts) for a file at the top of src/. */
const folderOf = (file: string) => file.split('/')[0];

const LOWER = new Set(['errors.ts', 'version.ts', 'did-you-mean.ts', 'pki', 'identity-headers', 'delegation', 'config', 'observe']);
const UPPER = new Set(['edge', 'forward', 'cli', 'runtime', 'proxy.ts', 'generation.ts', 'index.ts', 'backend']);
const ENTRY_POINTS = new Set(['index.ts', 'cli']);
const FRONT_DOOR_EXCEPTIONS = [{ from: 'backend', to: 'delegation/extension-codec.ts' }];

/** The rules; each returns the offending edges as "from → to: why". */
function violations(edges: Edge[]): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    const say = (why: string) => out.push(`${from} → ${to}: ${why}`);
    if (a === 'backend' && !['pki', 'identity-headers', 'delegation', 'errors.ts'].includes(b)) say('the backend library imports only pki/, identity-headers/, delegation/ and errors');
    if (a === 'identity-headers' && !['pki', 'errors.ts'].includes(b)) say('identity-headers/ imports only pki/ and errors (the backend library imports it)');
    if (a === 'identity-headers' && to.startsWith('pki/dev/')) say('identity-headers/ never imports certificate issuance (pki/dev/)');
    if (a === 'backend' && to.startsWith('pki/dev/')) say('the backend library never imports certificate issuance (pki/dev/)');
    if (a === 'backend' && b === 'delegation' && to !== 'delegation/extension-codec.ts') say('the backend library imports only the codec of delegation/');
    if ((a === 'edge' && b === 'backend') || (a === 'backend' && b === 'edge')) say('the edge and the backend library never import each other');
    if (a === 'edge' && b === 'forward') say('the edge never imports forward/ (a connection walks one way: edge → forward)');
    if (LOWER.has(a) && UPPER.has(b)) say(`${a} is a lower layer and never imports ${b}`);
    if (b === 'cli' && a !== 'cli') say('nothing outside cli/ imports the CLI');
    if (b === 'proxy.ts' && !ENTRY_POINTS.has(a)) say('only the entry points (src/index.ts, cli/) import proxy.ts');
    if (b === 'generation.ts' && a !== 'proxy.ts' && a !== 'runtime') say('only proxy.ts and runtime/ import generation.ts (one generation of the proxy, swapped by a reload)');
    const isFolder = to.includes('/');
    const frontDoor = to.endsWith('/index.ts');
    const excepted = FRONT_DOOR_EXCEPTIONS.some((x) => x.from === a && x.to === to);
    if (isFolder && !frontDoor && !excepted) say(`other folders import ${b}/ only through an index.ts`);
  }
  return out;
}

test('the backend entry point reaches only backend/, pki/, identity-headers/, delegation/ and errors', () => {
  const { files } = graph(resolve(DIST_SRC, 'backend/index.js'));
  assert.ok(files.includes('backend/identifier.js') && files.includes('delegation/extension-codec.js'), 'the walk found the graph');
  assert.ok(files.includes('identity-headers/index.js') && files.includes('identity-headers/xfcc.js'), 'the backend decodes with the shared codecs');
  const outside = files.filter((f) => !/^(backend|pki|identity-headers|delegation)\//.test(f) && f !== 'errors.js');
  assert.deepEqual(outside, []);
});

test('the backend needs no package but node: built-ins (no @peculiar/x509, pino, lru-cache) and never loads pki/dev/', () => {
  const { files, packages } = graph(resolve(DIST_SRC, 'backend/index.js'));
  assert.deepEqual(packages.filter((p) => !p.startsWith('node:')), [], `reached through ${files.join(', ')}`);
  assert.ok(files.includes('pki/index.js'), 'the backend goes through the pki front door');
  assert.deepEqual(files.filter((f) => f.startsWith('pki/dev/')), []);
  assert.deepEqual(files.filter((f) => f.startsWith('delegation/')), ['delegation/extension-codec.js']);
});

test('the walk would notice a forbidden import (the check can fail)', () => {
  // delegation/index.js re-exports the minter, which needs lru-cache; pki/dev/ needs @peculiar/x509
  assert.ok(graph(resolve(DIST_SRC, 'delegation/index.js')).packages.includes('lru-cache'));
  assert.ok(graph(resolve(DIST_SRC, 'pki/dev/index.js')).packages.includes('@peculiar/x509'));
});

test('every source import keeps the dependency rules and the front-door rule', () => {
  const edges = sourceEdges();
  assert.ok(edges.length > 100 && edges.some((e) => e.from === 'proxy.ts' && e.to === 'edge/index.ts'), 'the scan found the imports');
  assert.deepEqual(violations(edges), []);
});

test('each rule fails on a made-up violation (the checks can fail)', () => {
  const cases: [Edge, RegExp][] = [
    [{ from: 'backend/identifier.ts', to: 'config/index.ts' }, /imports only pki\/, identity-headers\/, delegation\/ and errors/],
    [{ from: 'backend/identifier.ts', to: 'observe/index.ts' }, /imports only pki\/, identity-headers\/, delegation\/ and errors/],
    [{ from: 'backend/identity-headers.ts', to: 'identity-headers/xfcc.ts' }, /only through an index\.ts/],
    [{ from: 'identity-headers/xfcc.ts', to: 'delegation/index.ts' }, /identity-headers\/ imports only pki\/ and errors/],
    [{ from: 'identity-headers/xfcc.ts', to: 'observe/index.ts' }, /identity-headers\/ imports only pki\/ and errors/],
    [{ from: 'identity-headers/xfcc.ts', to: 'pki/dev/index.ts' }, /identity-headers\/ never imports certificate issuance/],
    [{ from: 'identity-headers/index.ts', to: 'forward/index.ts' }, /identity-headers is a lower layer and never imports forward/],
    [{ from: 'backend/identifier.ts', to: 'pki/dev/index.ts' }, /never imports certificate issuance/],
    [{ from: 'backend/identifier.ts', to: 'delegation/index.ts' }, /only the codec of delegation/],
    [{ from: 'edge/edge-listener.ts', to: 'backend/index.ts' }, /never import each other/],
    [{ from: 'edge/admission.ts', to: 'forward/index.ts' }, /the edge never imports forward\//],
    [{ from: 'edge/acme/acme-manager.ts', to: 'forward/upstream-cluster.ts' }, /the edge never imports forward\//],
    [{ from: 'pki/pem.ts', to: 'edge/index.ts' }, /pki is a lower layer and never imports edge/],
    [{ from: 'config/load-config.ts', to: 'forward/index.ts' }, /config is a lower layer/],
    [{ from: 'forward/router.ts', to: 'cli/main.ts' }, /nothing outside cli\/ imports the CLI/],
    [{ from: 'edge/edge-listener.ts', to: 'proxy.ts' }, /only the entry points/],
    [{ from: 'proxy.ts', to: 'edge/edge-listener.ts' }, /only through an index\.ts/],
    [{ from: 'cli/commands/start.ts', to: 'generation.ts' }, /only proxy\.ts and runtime\/ import generation\.ts/],
    [{ from: 'forward/router.ts', to: 'generation.ts' }, /only proxy\.ts and runtime\/ import generation\.ts/],
    [{ from: 'observe/metrics.ts', to: 'runtime/index.ts' }, /observe is a lower layer and never imports runtime/],
    [{ from: 'cli/commands/inspect.ts', to: 'delegation/extension-codec.ts' }, /only through an index\.ts/],
  ];
  for (const [edge, why] of cases) {
    const found = violations([edge]);
    assert.ok(found.some((v) => why.test(v)), `${edge.from} → ${edge.to} should break a rule (${why}); got ${JSON.stringify(found)}`);
  }
  // and the allowed shapes pass
  assert.deepEqual(violations([
    { from: 'backend/identifier.ts', to: 'delegation/extension-codec.ts' },
    { from: 'backend/identity-headers.ts', to: 'identity-headers/index.ts' },
    { from: 'forward/identity-headers.ts', to: 'identity-headers/index.ts' },
    { from: 'config/schema.ts', to: 'identity-headers/index.ts' },
    { from: 'identity-headers/xfcc.ts', to: 'pki/index.ts' },
    { from: 'cli/commands/certs-status.ts', to: 'edge/acme/index.ts' },
    { from: 'edge/acme/acme-manager.ts', to: 'edge/server-certificate.ts' },
    { from: 'proxy.ts', to: 'errors.ts' },
    { from: 'forward/client-connections.ts', to: 'edge/index.ts' },
    { from: 'runtime/runtime-state.ts', to: 'generation.ts' },
    { from: 'cli/workers/primary.ts', to: 'runtime/index.ts' },
  ]), []);
});
