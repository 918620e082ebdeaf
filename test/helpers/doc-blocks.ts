/**
 * Code blocks of the docs that tests run as written. A block is marked by an
 * HTML comment on the line before its opening fence (invisible once rendered):
 *
 *     <!-- tested-block: etcd-roles -->
 *     ```sh
 *     etcdctl user add root --no-password
 *     ```
 *
 * `docBlock(file, name)` returns that block's text; a missing or repeated name
 * throws, so renaming or deleting a block fails the test that runs it.
 */
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CLI, REPO_ROOT } from './proxy-process.js';
import { runCommand, type CommandResult } from './run-command.js';

export interface DocBlock {
  /** the markdown file, relative to the repository root */
  file: string;
  /** the marker's name; undefined for an unmarked block */
  name?: string;
  /** the info string's first word (`sh`, `yaml`, …) */
  lang: string;
  /** the block's lines, without the fences, ending with a newline */
  text: string;
  /** 1-based line of the opening fence */
  line: number;
}

const MARKER = /^\s*<!--\s*tested-block:\s*([\w.-]+)\s*-->\s*$/;
/** a fence, indented (inside a list item) or not */
const FENCE = /^(\s*)(```+|~~~+)\s*([^\s`]*)/;

/** Every fenced code block of one markdown file, marked or not. */
export function codeBlocks(file: string): DocBlock[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  let pendingName: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i]);
    if (marker) { pendingName = marker[1]; continue; }
    const open = FENCE.exec(lines[i]);
    if (!open) { if (lines[i].trim() !== '') pendingName = undefined; continue; }
    const [, indent, fence, lang] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j].trimStart().startsWith(fence)) body.push(lines[j++].startsWith(indent) ? lines[j - 1].slice(indent.length) : lines[j - 1]);
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: code block never closed`);
    blocks.push({ file, name: pendingName, lang, text: body.join('\n') + '\n', line: i + 1 });
    pendingName = undefined;
    i = j;
  }
  return blocks;
}

/** The block marked `<!-- tested-block: name -->` in `file`. */
export function docBlock(file: string, name: string): DocBlock {
  const found = codeBlocks(file).filter((b) => b.name === name);
  if (found.length !== 1) throw new Error(`${file}: ${found.length} code blocks marked "tested-block: ${name}" (expected exactly one)`);
  return found[0];
}

/** The markdown files users follow: README.md, docs/*.md, examples/*\/README.md. */
export function userDocs(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  const examples = readdirSync(join(REPO_ROOT, 'examples'))
    .map((d) => `examples/${d}/README.md`)
    .filter((f) => existsSync(join(REPO_ROOT, f)));
  return ['README.md', ...docs, ...examples];
}

/**
 * The lines of a shell block as commands: `\` continuations joined, comments
 * and blank lines dropped.
 */
export function shellCommands(block: DocBlock): string[] {
  return block.text.replace(/\\\n\s*/g, ' ').split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter((l) => l !== '');
}

/**
 * The arguments a block gives `program` (its one command line starting with
 * it), split on white space; a placeholder word holding `…` (what the reader
 * fills in: the member's name, peers, addresses) is left out.
 */
export function commandArgs(block: DocBlock, program: string): string[] {
  const lines = shellCommands(block).filter((l) => l.split(/\s+/)[0] === program);
  if (lines.length !== 1) throw new Error(`${block.file}:${block.line}: ${lines.length} command lines start with ${program} (expected one)`);
  return lines[0].split(/\s+/).slice(1).filter((w) => !w.includes('…'));
}

/** A block's commands except those starting with `program` (a server the test starts itself). */
export function commandsBesides(block: DocBlock, program: string): string[] {
  return shellCommands(block).filter((l) => l.split(/\s+/)[0] !== program);
}

let shimDir: string | undefined;

/** PATH with `countersign` (this clone's CLI, run by this Node) first, as an installed package puts it. */
function pathWithCli(): string {
  if (!shimDir) {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-bin-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'countersign'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`, { mode: 0o755 });
    shimDir = dir;
  }
  return [shimDir, process.env.PATH].join(delimiter);
}

/** Runs shell commands as a user types them (sh -e: the first failure stops), in `cwd`, with `countersign` on PATH. */
export function runShell(commands: string | string[], o: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CommandResult> {
  const script = Array.isArray(commands) ? commands.join('\n') : commands;
  return runCommand('sh', ['-ec', script], { cwd: o.cwd, env: { ...process.env, ...o.env, PATH: pathWithCli() }, timeoutMs: o.timeoutMs ?? 60_000 });
}
