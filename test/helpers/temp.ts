/** Temporary directories for tests, removed by the returned function. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  dir: string;
  /** removes the directory and everything in it */
  remove(): Promise<void>;
  /** the same as remove() (the name older helpers used) */
  cleanup(): Promise<void>;
}

export async function tempDir(prefix = 'countersign-test-'): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const remove = () => rm(dir, { recursive: true, force: true });
  return { dir, remove, cleanup: remove };
}
