/**
 * `countersign check` accepts every countersign config under examples/ (every
 * examples/**\/*.yaml with a `routes:` key). Each is checked in a temporary
 * copy of the repository layout, with the files it names put where it names
 * them — by what the key is for (an edge certificate, the client CA, the
 * delegation CA …), from a fresh dev PKI — so that a new example is covered
 * without touching this test.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { makePki, runCli, REPO_ROOT, type TestPki } from '../helpers/proxy-process.js';
import { writeCrl } from '../helpers/e2e.js';

async function findYaml(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'certs') out.push(...await findYaml(p));
    else if (e.isFile() && /\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

type Files = string | string[] | undefined;
const list = (f: Files) => (f === undefined ? [] : Array.isArray(f) ? f : [f]);

/** Every file the config names, with the dev PKI file that can stand in for it. */
function filesOf(c: Record<string, any>): { path: string; from: string }[] {
  const out: { path: string; from: string }[] = [];
  const pair = (p: { cert: string; key: string } | undefined, name: string) => { if (p) out.push({ path: p.cert, from: `${name}.crt` }, { path: p.key, from: `${name}.key` }); };
  for (const k of c.edge?.certificates ?? []) pair(k, 'edge');
  for (const f of list(c.edge?.clientAuth?.ca)) out.push({ path: f, from: 'client-ca.crt' });
  for (const f of list(c.edge?.clientAuth?.crl)) out.push({ path: f, from: 'crl' });
  if (c.edge?.acme?.ca) out.push({ path: c.edge.acme.ca, from: 'edge-ca.crt' });
  if (c.edge?.acme?.storage) out.push({ path: c.edge.acme.storage, from: 'dir' });
  pair(c.delegation?.ca, 'delegation-ca');
  for (const u of Object.values(c.upstreams ?? {}) as { ca: Files }[]) for (const f of list(u.ca)) out.push({ path: f, from: 'backend-ca.crt' });
  for (const r of c.routes ?? []) pair(r.proxyCert, 'proxy-client');
  return out;
}

const examples: { file: string; config: Record<string, any> }[] = [];
for (const file of await findYaml(join(REPO_ROOT, 'examples'))) {
  // Kubernetes manifests hold several documents; a countersign config is one
  const docs = parseAllDocuments(await readFile(file, 'utf8'));
  const config = Array.isArray(docs) && docs.length === 1 ? docs[0].toJS() : undefined;
  if (config && typeof config === 'object' && 'routes' in config) examples.push({ file, config });
}

let pki: TestPki;
let root: string;
before(async () => {
  pki = await makePki();
  root = await mkdtemp(join(tmpdir(), 'countersign-examples-'));
});

test('examples/ has countersign configs (the demo at least)', () => {
  assert.ok(examples.some((e) => relative(REPO_ROOT, e.file) === join('examples', 'demo', 'countersign.yaml')), examples.map((e) => e.file).join(', '));
});

describe('every example', { concurrency: true }, () => {
  for (const { file, config } of examples) {
    test(`countersign check accepts ${relative(REPO_ROOT, file)}`, async () => {
      // the same place in a copy of the repository, so paths like ../../certs resolve inside it
      const copy = join(root, relative(REPO_ROOT, file));
      await mkdir(dirname(copy), { recursive: true });
      await copyFile(file, copy);
      for (const f of filesOf(config)) {
        if (isAbsolute(f.path)) continue; // left for check to report: an example should use relative paths
        const target = resolve(dirname(copy), f.path);
        if (f.from === 'dir') { await mkdir(target, { recursive: true }); continue; }
        await mkdir(dirname(target), { recursive: true });
        if (f.from === 'crl') await writeCrl(dirname(target), relative(dirname(target), target), pki.pki.clientCa, []);
        else await writeFile(target, await readFile(join(pki.dir, f.from)), { mode: f.from.endsWith('.key') ? 0o600 : 0o644 }); // keys 0600, or check refuses them
      }
      const r = await runCli(['check', '--config', copy]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /: OK \(/);
    });
  }
});
