// Stops at once, with one line, on a Node.js older than package.json's `engines`.
// Kept to syntax and APIs every Node since 14 has, since it runs before anything
// that needs a newer one; `npm start`, `npx countersign` and `npm test` all go
// through it.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const range = pkg.engines.node; // ">=X.Y.Z", the one form we use
const need = range.replace(/^>=\s*/, '').split('.').map(Number);
const have = process.versions.node.split('.').map(Number);
const i = need.findIndex((n, k) => have[k] !== n);
const older = i >= 0 && have[i] < need[i];

if (older) {
  process.stderr.write(
    `countersign needs Node.js ${range} (Node 24 LTS is the one we test); this is Node ${process.version} (${process.execPath}). ` +
    'Get Node 24 from your package manager or nodejs.org, or from the npm registry: `npx -y node@24 …` or `sh scripts/install-node.sh` (see README, "Node.js").\n',
  );
  process.exit(1);
}
