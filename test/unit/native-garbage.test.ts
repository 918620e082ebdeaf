/**
 * native-garbage.ts: native memory V8 cannot see, once let go of, makes it
 * collect when it adds up, so the wrappers of dropped TLS contexts and
 * certificates (and the OpenSSL memory they hold) go without waiting for V8's
 * own schedule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureContext } from 'node:tls';
import { NATIVE_GARBAGE_BYTES, nativeGarbageCollections, noteNativeGarbage } from '../../src/native-garbage.js';
import { waitFor } from '../helpers/wait.js';

test('garbage below the threshold asks for no collection', () => {
  const before = nativeGarbageCollections();
  noteNativeGarbage(NATIVE_GARBAGE_BYTES / 4);
  noteNativeGarbage(NATIVE_GARBAGE_BYTES / 4);
  assert.equal(nativeGarbageCollections(), before);
});

test('crossing the threshold collects a dropped TLS context, without --expose-gc', async () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'this test must run without --expose-gc');
  // a context the program has let go of: only a major collection can be relied on to clear it
  // once it has survived the young generation, which the loop below makes sure of
  let dropped: object | undefined = createSecureContext({});
  const ref = new WeakRef(dropped);
  dropped = undefined;
  const keep: object[] = [];
  for (let i = 0; i < 200_000; i++) keep.push({ i });
  const before = nativeGarbageCollections();
  noteNativeGarbage(NATIVE_GARBAGE_BYTES);
  assert.equal(nativeGarbageCollections(), before + 1);
  await waitFor(() => ref.deref() === undefined, 'the dropped context to be collected');
  assert.ok(keep.length > 0);
});

test('the flag is not left set: a new context has no gc function', async () => {
  const { runInNewContext } = await import('node:vm');
  noteNativeGarbage(NATIVE_GARBAGE_BYTES);
  assert.equal(runInNewContext('typeof gc'), 'undefined');
});
