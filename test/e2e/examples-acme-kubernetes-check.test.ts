/**
 * `countersign check` accepts the ACME and Kubernetes examples once their files
 * exist where the examples expect them (a dev PKI laid out like the mounted
 * Secrets), and refuses them when a file is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, runCli, REPO_ROOT } from '../helpers/proxy-process.js';

async function layout(files: Record<string, string>, example: string): Promise<string> {
  const pki = await makePki();
  const dir = await mkdtemp(join(tmpdir(), 'countersign-example-'));
  for (const [to, from] of Object.entries(files)) {
    await mkdir(join(dir, to, '..'), { recursive: true });
    await copyFile(join(pki.dir, from), join(dir, to));
  }
  const config = join(dir, 'countersign.yaml');
  await copyFile(join(REPO_ROOT, example), config);
  return config;
}

test('the Kubernetes example passes check with its Secrets mounted as the Deployment mounts them', async () => {
  const config = await layout({
    'edge/tls.crt': 'edge.crt', 'edge/tls.key': 'edge.key', 'client-ca/ca.crt': 'client-ca.crt',
    'delegation/tls.crt': 'delegation-ca.crt', 'delegation/tls.key': 'delegation-ca.key', 'backend-ca/ca.crt': 'backend-ca.crt',
  }, 'examples/kubernetes/countersign.yaml');
  const r = await runCli(['check', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OK/);
});

test('the Kubernetes example fails check when the delegation Secret is missing', async () => {
  const config = await layout({
    'edge/tls.crt': 'edge.crt', 'edge/tls.key': 'edge.key', 'client-ca/ca.crt': 'client-ca.crt', 'backend-ca/ca.crt': 'backend-ca.crt',
  }, 'examples/kubernetes/countersign.yaml');
  const r = await runCli(['check', '--config', config]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /delegation\.ca\.cert: cannot read .*delegation\/tls\.crt/);
});

test('the ACME example passes check with its CA files in certs/', async () => {
  const config = await layout({
    'certs/client-ca.crt': 'client-ca.crt', 'certs/delegation-ca.crt': 'delegation-ca.crt', 'certs/delegation-ca.key': 'delegation-ca.key', 'certs/backend-ca.crt': 'backend-ca.crt',
  }, 'examples/acme/countersign.yaml');
  const r = await runCli(['check', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
});
