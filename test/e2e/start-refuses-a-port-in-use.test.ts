/**
 * `countersign start` when its listen address is taken: a clear message that
 * names the address and what to do, exit 1, nothing left running.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { makePki, writeConfig, startProxyProcess, baseConfig, type TestPki } from '../helpers/proxy-process.js';

let pki: TestPki;
let squatter: Server;
let port: number;

before(async () => {
  pki = await makePki();
  squatter = createServer(() => {});
  port = await new Promise<number>((r) => squatter.listen(0, '127.0.0.1', () => r((squatter.address() as { port: number }).port)));
});
after(() => { squatter?.close(); });

test('the port is in use: a clear message, exit 1', async () => {
  const config = baseConfig(pki.dir, 1) as Record<string, unknown>;
  config.listen = `127.0.0.1:${port}`;
  await assert.rejects(startProxyProcess(await writeConfig(pki.dir, config)), (err: Error) => {
    assert.match(err.message, /exited with 1 before listening/);
    assert.match(err.message, new RegExp(`listen 127\\.0\\.0\\.1:${port}: address already in use; stop the other process or change \`listen\``));
    assert.doesNotMatch(err.message, /at .*\.js:\d+/, 'no stack trace');
    return true;
  });
});
