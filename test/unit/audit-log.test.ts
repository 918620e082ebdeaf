/**
 * The audit log's hash chain: records written by AuditLog to a real file
 * verify; a restart continues the chain from the last line; an edited,
 * removed or inserted line is found at the first line that no longer
 * verifies; a write failure (/dev/full: ENOSPC) is counted and published,
 * never thrown. Property tests over the verifier (the parser of a file anyone
 * may have edited).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AUDIT_GENESIS, AuditLog, lastLine, verifyAuditFile, verifyAuditLines, auditWriteFailureChannel, silentLogger, type AuditEvent } from '../../src/observe/index.js';
import { isCountersignError } from '../../src/errors.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'countersign-audit-'));
  dirs.push(d);
  return d;
}
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const event = (i: number): AuditEvent => ({ time: new Date(1_700_000_000_000 + i).toISOString(), kind: 'request', route: 'kes', outcome: 'ok', status: 200, path: `/v1/key/${i}`, identity: 'ab'.repeat(32) });

async function writeRecords(file: string, from: number, n: number): Promise<void> {
  const log = AuditLog.open({ file, logger: silentLogger });
  for (let i = from; i < from + n; i++) log.append(event(i));
  await log.close();
}
const lines = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter(Boolean);

test('records chain: the first carries the genesis hash, each next one the SHA-256 of the line before', async () => {
  const file = join(await tmp(), 'sub/dir/audit.jsonl');
  await writeRecords(file, 0, 5);
  const l = await lines(file);
  assert.equal(l.length, 5);
  assert.equal(JSON.parse(l[0]).prev, AUDIT_GENESIS);
  for (let i = 1; i < 5; i++) assert.equal(JSON.parse(l[i]).prev, sha(l[i - 1]));
  assert.equal(JSON.parse(l[3]).path, '/v1/key/3');
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'created 0600');
  const r = await verifyAuditFile(file);
  assert.deepEqual(r, { ok: true, records: 5, startsFrom: AUDIT_GENESIS, head: sha(l[4]), broken: undefined });
});

test('a restart continues the chain from the last line of the file', async () => {
  const file = join(await tmp(), 'audit.jsonl');
  await writeRecords(file, 0, 3);
  const head = sha((await lines(file))[2]);
  const log = AuditLog.open({ file, logger: silentLogger });
  assert.equal(log.head, head);
  log.append(event(3));
  await log.close();
  assert.equal(JSON.parse((await lines(file))[3]).prev, head);
  assert.equal((await verifyAuditFile(file)).records, 4);
});

test('a line cut short by a crash stays visibly broken; the chain goes on after it', async () => {
  const file = join(await tmp(), 'audit.jsonl');
  await writeRecords(file, 0, 2);
  await appendFile(file, '{"time":"2026-');
  assert.equal(lastLine(file)!.complete, false);
  await writeRecords(file, 2, 1);
  const all = await lines(file);
  assert.equal(all.length, 4);
  assert.equal(JSON.parse(all[3]).prev, sha('{"time":"2026-'));
  assert.deepEqual((await verifyAuditFile(file)).broken, { line: 3, reason: 'not a JSON record (cut short, or edited)' });
});

test('an edited line is found at the next line; a removed or inserted line where it was', async () => {
  const file = join(await tmp(), 'audit.jsonl');
  await writeRecords(file, 0, 6);
  const original = await lines(file);
  const check = async (l: string[]) => { await writeFile(file, l.join('\n') + '\n'); return (await verifyAuditFile(file)).broken?.line; };
  const edited = [...original];
  edited[2] = edited[2].replace('"outcome":"ok"', '"outcome":"refused"');
  assert.equal(await check(edited), 4);
  assert.equal(await check([...original.slice(0, 3), ...original.slice(4)]), 4, 'line 4 removed: the new line 4 does not follow line 3');
  assert.equal(await check([...original.slice(0, 2), original[4], ...original.slice(2)]), 3, 'a line inserted as line 3');
  assert.equal(await check([...original.slice(0, 2), '', ...original.slice(2)]), 3, 'an empty line inside');
  assert.equal(await check(original.slice(1)), undefined, 'the first line removed: the file alone cannot tell…');
  assert.notEqual((await verifyAuditFile(file)).startsFrom, AUDIT_GENESIS, '…but it no longer starts a chain');
  await writeFile(file, original.slice(1).join('\n') + '\n');
  assert.equal((await verifyAuditFile(file, AUDIT_GENESIS)).broken?.line, 1, 'and checked as a continuation, it does not continue');
});

test('a write failure (/dev/full: ENOSPC) is counted and published, not thrown, and the writer goes on', async () => {
  const seen: unknown[] = [];
  const on = (m: unknown) => seen.push(m);
  subscribe(auditWriteFailureChannel.name as string, on);
  try {
    const log = AuditLog.open({ file: '/dev/full', logger: silentLogger });
    log.append(event(0));
    await waitFor(() => log.failureCount >= 1, 'the failure to be counted', 10_000, 20);
    log.append(event(1));
    assert.ok(seen.some((m) => (m as { reason?: string }).reason === 'ENOSPC'), JSON.stringify(seen));
    await log.close();
  } finally {
    unsubscribe(auditWriteFailureChannel.name as string, on);
  }
});

test('a file that cannot be opened is refused at start with ERR_AUDIT_OPEN', async () => {
  const d = await tmp();
  await writeFile(join(d, 'file'), 'x');
  assert.throws(() => AuditLog.open({ file: join(d, 'file', 'audit.jsonl'), logger: silentLogger }), (e) => isCountersignError(e, 'ERR_AUDIT_OPEN') && e.message.includes('audit.file'));
});

// ---- property tests ----

function chain(records: object[], start = AUDIT_GENESIS): Buffer[] {
  let prev = start;
  return records.map((r) => {
    const line = JSON.stringify({ ...r, prev });
    prev = sha(line);
    return Buffer.from(line);
  });
}
const record = fc.record({ outcome: fc.string({ maxLength: 12 }), status: fc.integer({ min: 100, max: 599 }), path: fc.string({ maxLength: 30 }), subject: fc.string({ unit: 'grapheme', maxLength: 10 }) });

test('property: any chain of records verifies, and its head is the hash of its last line', () => {
  fc.assert(fc.property(fc.array(record, { minLength: 1, maxLength: 20 }), (recs) => {
    const l = chain(recs);
    const r = verifyAuditLines(l);
    assert.equal(r.ok, true);
    assert.equal(r.records, recs.length);
    assert.equal(r.head, sha(l[l.length - 1]));
  }));
});

test('property: changing any byte of any line but the last breaks the chain at or before the next line', () => {
  fc.assert(fc.property(fc.array(record, { minLength: 2, maxLength: 12 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (recs, li, bi, x) => {
    const l = chain(recs);
    const k = li % (l.length - 1);
    const mutated = l.map((b) => Buffer.from(b));
    const at = bi % mutated[k].length;
    mutated[k][at] ^= x;
    if (mutated[k].includes(0x0a)) return; // a newline would make two lines: another case
    const r = verifyAuditLines(mutated);
    assert.equal(r.ok, false);
    assert.ok(r.broken!.line <= k + 2, `broken at ${r.broken!.line}, edited line ${k + 1}`);
  }), { numRuns: 500 });
});

test('property: removing any line but the last, or swapping two, is detected', () => {
  fc.assert(fc.property(fc.array(record, { minLength: 3, maxLength: 12 }), fc.nat(), fc.nat(), (recs, a, b) => {
    const l = chain(recs);
    const k = a % (l.length - 1);
    assert.equal(verifyAuditLines([...l.slice(0, k), ...l.slice(k + 1)], AUDIT_GENESIS).ok, false);
    const j = b % l.length;
    if (j !== k && !l[j].equals(l[k])) {
      const swapped = [...l];
      [swapped[j], swapped[k]] = [swapped[k], swapped[j]];
      assert.equal(verifyAuditLines(swapped, AUDIT_GENESIS).ok, false);
    }
  }), { numRuns: 300 });
});

test('property: the verifier never throws on arbitrary bytes, and a broken line number is within the input', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 10 }), (raw) => {
    const r = verifyAuditLines(raw.map((u) => Buffer.from(u)));
    if (!r.ok) assert.ok(r.broken!.line >= 1 && r.broken!.line <= raw.length);
    assert.ok(r.records <= raw.length);
  }), { numRuns: 1000 });
});
