/**
 * Test PKIs on disk: the dev PKI `countersign certs init` writes (edge,
 * client CA, alice/bob/root, delegation CA, backend CA and certificate, proxy
 * client certificate), in a fresh temporary directory, keys 0600.
 */
import { chmod, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDevPki, writeDevPki, type DevPki } from '../../src/pki/dev/index.js';

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');

export interface TestPki {
  dir: string;
  pki: DevPki;
  /** path of a file of the dev PKI, e.g. file('client-ca.key') */
  file(name: string): string;
  /** removes the directory now (it is removed when the process exits anyway) */
  cleanup(): Promise<void>;
}

/** A fresh dev PKI in a temporary directory (the same files `countersign certs init` writes). */
export async function makePki(prefix = 'countersign-pki-'): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  // Removed when the test file's process exits (an after() hook here would run as soon as a before() hook ends).
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return pkiIn(dir);
}

/**
 * A directory laid out as a user's who follows an example: `certs/` holds the
 * dev PKI (`countersign certs init --out certs`), and the example's files (if
 * one is named) are copied next to it. Mode 0755, so a server that drops
 * privileges (Mosquitto started as root) can enter it. `pki.dir` is `certs/`.
 */
export async function makeWorkdir(o?: { example?: string }): Promise<{ dir: string; pki: TestPki }>;
/** `pki: false`: `certs/` is left for the doc's own `countersign certs init --out certs`. */
export async function makeWorkdir(o: { example?: string; pki: false }): Promise<{ dir: string }>;
export async function makeWorkdir(o: { example?: string; pki?: boolean } = {}): Promise<{ dir: string; pki?: TestPki }> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-workdir-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  if (o.example) await cp(join(REPO_ROOT, 'examples', o.example), dir, { recursive: true });
  if (o.pki === false) return { dir };
  const certs = join(dir, 'certs');
  await mkdir(certs, { recursive: true });
  return { dir, pki: await pkiIn(certs) };
}

async function pkiIn(dir: string): Promise<TestPki> {
  const pki = await generateDevPki();
  await writeDevPki(pki, dir);
  return { dir, pki, file: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) };
}
