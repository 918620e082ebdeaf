/**
 * Loads a countersign config from examples/ for a test: paths under `certs/`
 * point at the test's PKI, `listen` at a free loopback port, and each
 * upstream's servers at the test's real backends.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './proxy-process.js';

export function exampleConfig(example: string, pkiDir: string, servers: Record<string, string[]>): Record<string, any> {
  const text = readFileSync(join(REPO_ROOT, 'examples', example, 'countersign.yaml'), 'utf8');
  const config = parse(text.replace(/\bcerts\//g, `${pkiDir}/`)) as Record<string, any>;
  config.listen = '127.0.0.1:0';
  for (const [name, list] of Object.entries(servers)) {
    if (!config.upstreams?.[name]) throw new Error(`examples/${example}: no upstream ${name}`);
    config.upstreams[name].servers = list;
  }
  return config;
}
