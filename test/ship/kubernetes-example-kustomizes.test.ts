/**
 * examples/kubernetes renders with `kubectl kustomize` (kubectl on PATH: CI
 * installs Debian's kubernetes-client, whose kubectl 1.20 embeds kustomize
 * v2; the newer kubectl 1.32 renders the same manifests), and what it renders
 * is what the docs promise: the image built from the Dockerfile at this
 * package's version, N>1 replicas, /readyz probes on the admin port (the port
 * the config's admin line names, not in the Service), a PodDisruptionBudget
 * selecting those pods, the config as a generated ConfigMap.
 *
 * Not verified: the manifests against a Kubernetes API server's schemas (no
 * cluster, and no offline validator is packaged in Debian), and the pods
 * running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../helpers/proxy-process.js';
import { runCommand } from '../helpers/run-command.js';

const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));

test('kubectl kustomize renders the example: image, replicas, /readyz probes, a PodDisruptionBudget', async () => {
  const r = await runCommand('kubectl', ['kustomize', join(REPO_ROOT, 'examples/kubernetes')], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
  const kind = (k: string) => docs.filter((d) => d.kind === k);
  const [deploy] = kind('Deployment');
  const [pdb] = kind('PodDisruptionBudget');
  const [svc] = kind('Service');
  assert.ok(deploy && pdb && svc, r.stdout);
  for (const d of docs) assert.equal(d.metadata.namespace, 'countersign', `${d.kind} ${d.metadata.name}`);

  assert.ok(deploy.spec.replicas >= 2, 'more than one replica');
  const c = deploy.spec.template.spec.containers[0];
  assert.equal(c.image, `countersign:${pkg.version}`);
  assert.equal(c.command, undefined, 'the image\'s ENTRYPOINT runs countersign');
  const admin = c.ports.find((p: { name: string }) => p.name === 'admin');
  assert.equal(admin.containerPort, 9901);
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
  assert.equal(c.startupProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.ok(!svc.spec.ports.some((p: { targetPort: unknown }) => p.targetPort === 'admin' || p.targetPort === 9901), 'the admin port stays out of the Service');
  assert.equal(deploy.spec.template.spec.securityContext.runAsUser, 10001, 'the image\'s user');

  assert.deepEqual(pdb.spec.selector.matchLabels, deploy.spec.selector.matchLabels);
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.ok(pdb.spec.maxUnavailable < deploy.spec.replicas);

  // the config is a generated ConfigMap, mounted where the container reads it
  const cm = kind('ConfigMap').find((m) => m.metadata.name.startsWith('countersign-config-'));
  assert.ok(cm, 'generated countersign-config ConfigMap');
  const vol = deploy.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'config');
  assert.equal(vol.configMap.name, cm.metadata.name);
  const config = await readFile(join(REPO_ROOT, 'examples/kubernetes/countersign.yaml'), 'utf8');
  assert.equal(cm.data['countersign.yaml'], config);
  assert.match(config, /admin: \{ listen: 0\.0\.0\.0:9901 \}/, 'the admin address the probes use');
});
