/**
 * Test PKIs on disk: the dev PKI `countersign certs init` writes (edge,
 * client CA, alice/bob/root, delegation CA, backend CA and certificate, proxy
 * client certificate), in a fresh temporary directory, keys 0600.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDevPki, writeDevPki, type DevPki } from '../../src/pki/dev/index.js';

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
  const pki = await generateDevPki();
  await writeDevPki(pki, dir);
  return { dir, pki, file: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) };
}
