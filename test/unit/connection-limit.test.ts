/**
 * The connection limit in force: the default unless the open-file limit is
 * too low for it (then what it holds), a configured value as given (with a
 * warning when the open-file limit is lower); /proc/self/limits read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionLimit, DEFAULTS, FILES_PER_CONNECTION, RESERVED_FILES } from '../../src/config/index.js';
import { openFileLimit } from '../../src/edge/index.js';

test('unset: the default when the open-file limit holds it, or what the limit holds', () => {
  assert.deepEqual(connectionLimit(undefined, 1_048_576), { max: DEFAULTS.maxConnections, source: 'default' });
  assert.deepEqual(connectionLimit(undefined, undefined), { max: DEFAULTS.maxConnections, source: 'default' });
  assert.deepEqual(connectionLimit(undefined, 20_000), { max: Math.floor((20_000 - RESERVED_FILES) / FILES_PER_CONNECTION), source: 'open-file limit' });
  assert.deepEqual(connectionLimit(undefined, 1024), { max: 462, source: 'open-file limit' });
  assert.equal(connectionLimit(undefined, 50).max, 1, 'never zero');
});

test('set: kept as given; a warning says what to change when the open-file limit is lower', () => {
  assert.deepEqual(connectionLimit(500, 4096), { max: 500, source: 'config' });
  const over = connectionLimit(5000, 4096);
  assert.equal(over.max, 5000);
  assert.match(over.warning ?? '', /limits\.maxConnections is 5000, but the open-file limit \(4096\) holds about 1998/);
  assert.match(over.warning ?? '', /LimitNOFILE/);
});

test('openFileLimit reads the soft limit from /proc/self/limits, and gives up quietly elsewhere', () => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            4096                 524288               files     \n';
  assert.equal(openFileLimit(() => text), 4096);
  assert.equal(openFileLimit(() => 'Max open files            unlimited            unlimited            files\n'), undefined);
  assert.equal(openFileLimit(() => { throw new Error('ENOENT'); }), undefined);
  if (process.platform === 'linux') assert.ok((openFileLimit() ?? 0) > 0);
});

test('refusals log one line at once, then at most one per interval with the count since', async () => {
  const { ConnectionLimitLog } = await import('../../src/edge/index.js');
  const { waitFor } = await import('../helpers/wait.js');
  const lines: Record<string, unknown>[] = [];
  const logger = { warn: (o: Record<string, unknown>) => { lines.push(o); } } as unknown as import('../../src/observe/index.js').Logger;
  const log = new ConnectionLimitLog({ logger, maxConnections: 3, intervalMs: 100 });
  for (let i = 0; i < 5; i++) log.refused(`10.0.0.${i}`);
  assert.equal(lines.length, 1, 'the first refusal is logged at once, the next four wait');
  assert.deepEqual({ refused: lines[0].refused, remoteAddress: lines[0].remoteAddress, maxConnections: lines[0].maxConnections }, { refused: 1, remoteAddress: '10.0.0.0', maxConnections: 3 });
  await waitFor(() => lines.length === 2, 'the summary line');
  assert.deepEqual({ refused: lines[1].refused, remoteAddress: lines[1].remoteAddress }, { refused: 4, remoteAddress: '10.0.0.1' });
  assert.equal(log.total, 5);
  log.stop();
});
