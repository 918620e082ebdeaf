#!/usr/bin/env node
// First step of `npm test`: the tests talk to real servers and clients
// (scripts/test-peers.txt). When some are missing, one line names each with
// its package and the one command that installs them all, and the run stops
// here — instead of every test that needs one waiting for it to start.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';

const list = new URL('./test-peers.txt', import.meta.url);
const peers = readFileSync(list, 'utf8').split('\n')
  .map((l) => l.replace(/#.*/, '').trim()).filter(Boolean)
  .map((l) => l.split(/\s+/))
  .filter(([, , tag]) => tag !== 'bench')
  .map(([check, pkg]) => ({ check, pkg }));

const onPath = (cmd) => (process.env.PATH ?? '').split(delimiter).some((dir) => {
  try { accessSync(join(dir, cmd), constants.X_OK); return true; } catch { return false; }
});

function present({ check }) {
  if (check.includes(':')) {
    const [python, module] = check.split(':');
    return existsSync(python) && spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
  }
  if (check.startsWith('/')) return existsSync(check);
  return onPath(check);
}

const missing = peers.filter((p) => !present(p));
if (missing.length) {
  const names = missing.map((p) => `${p.check.includes(':') ? `${p.check.split(':')[0]} module ${p.check.split(':')[1]}` : p.check} (${p.pkg})`).join(', ');
  process.stderr.write(`npm test: missing test peers: ${names}; install them all with: sudo bash scripts/install-peers.sh (what .ci/run does)\n`);
  process.exit(1);
}
