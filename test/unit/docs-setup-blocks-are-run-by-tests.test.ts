/**
 * Every code block in the docs that sets up authorization on a backend we
 * run in tests (etcd, Mosquitto, Redis, PostgreSQL, MariaDB, NATS) is marked
 * `<!-- tested-block: name -->`, and every marked block is taken by a test
 * (`docBlock(file, 'name')`), which runs it against the real server. A doc
 * block added without a test, or a test that stops running one, fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { codeBlocks, userDocs } from '../helpers/doc-blocks.js';
import { REPO_ROOT } from '../helpers/proxy-process.js';

/** What a block that sets up a backend's authorization says, per backend. */
const SETS_UP_AUTHORIZATION: [string, RegExp][] = [
  ['etcd', /\betcdctl\s+(user|role|auth)\b|--client-cert-auth/],
  ['Mosquitto', /use_identity_as_username|^\s*acl_file\b|require_certificate|^\s*topic\s+(read|write|readwrite)\b/m],
  ['Redis', /tls-auth-clients|tls-ca-cert-file/],
  ['PostgreSQL', /\bhostssl\b|ssl_ca_file|\bGRANT\b|\bCREATE (ROLE|USER)\b/],
  ['MariaDB', /\bREQUIRE\s+(SUBJECT|X509|ISSUER)\b|\bssl[_-]ca\s*=/],
  ['NATS', /verify_and_map|\bauthorization\s*[:{]/],
];

function testSources(dir = join(REPO_ROOT, 'test')): { file: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return testSources(path);
    return e.name.endsWith('.ts') ? [{ file: relative(REPO_ROOT, path), text: readFileSync(path, 'utf8') }] : [];
  });
}

const blocks = userDocs().flatMap((file) => codeBlocks(file));

test('every doc block that sets up a backend\'s authorization is marked to be run by a test', () => {
  const unmarked = blocks.filter((b) => !b.name).flatMap((b) => {
    const backend = SETS_UP_AUTHORIZATION.find(([, pattern]) => pattern.test(b.text));
    return backend ? [`${b.file}:${b.line} (${backend[0]})`] : [];
  });
  assert.deepEqual(unmarked, [], 'mark each with <!-- tested-block: name --> and run it in a test (test/helpers/doc-blocks.ts)');
});

test('every marked doc block is taken by a test, and its name is unique in its file', () => {
  const sources = testSources().filter((s) => !s.file.endsWith('docs-setup-blocks-are-run-by-tests.test.ts'));
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const b of blocks.filter((x) => x.name)) {
    const key = `${b.file}#${b.name}`;
    if (seen.has(key)) problems.push(`${b.file}:${b.line}: "${b.name}" is marked twice`);
    seen.add(key);
    const takers = sources.filter((s) => s.text.includes(`'${b.name}'`) && s.text.includes(`'${b.file}'`));
    if (takers.length === 0) problems.push(`${b.file}:${b.line}: no test takes "${b.name}" (docBlock('${b.file}', '${b.name}'))`);
  }
  assert.deepEqual(problems, []);
});

test('a marker names the block right below it', () => {
  // a marker followed by prose, not a fence, would mark nothing: the helper drops it, so check the text
  for (const file of userDocs()) {
    const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!/^\s*<!--\s*tested-block:/.test(line)) return;
      assert.match(lines[i + 1] ?? '', /^\s*(```|~~~)/, `${file}:${i + 1}: the line after a tested-block marker must open a code block`);
    });
  }
});
