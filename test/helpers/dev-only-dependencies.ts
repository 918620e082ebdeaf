/**
 * devDependencies that nothing at run time needs: package-lock.json marks them
 * `dev: true`. (A devDependency can also be a runtime dependency's own
 * dependency, e.g. @types/node of protobufjs under etcd3; that one is installed
 * with the runtime dependencies, as npm does for any user.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './proxy-process.js';

export function devOnlyDependencies(): string[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.keys(pkg.devDependencies).filter((d) => lock.packages[`node_modules/${d}`]?.dev === true);
}
