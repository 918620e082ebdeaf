/**
 * The tests' freePort never hands out one port twice in a process: servers
 * started side by side by one test (pebble and its challenge server) must not
 * be told the same port, whatever the kernel's ephemeral allocator returns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/net.js';

test('300 ports asked one after another are all different and all bindable now', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 300; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length);
  for (const p of ports) assert.ok(p > 0 && p < 65536);
});
