/**
 * examples/mosquitto against Debian's Mosquitto 2.0 run with the example's
 * own mosquitto.conf (`use_identity_as_username`, `cafile` = the delegation
 * CA) and ACL: through countersign, the broker takes the user from the minted
 * certificate's CN — alice's subscriber receives what alice publishes on
 * alice/#, bob's publish there is dropped by the ACL;
 * a client offering ALPN `mqtt` works as well as one offering none.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePki, writeConfig, startProxyProcess, REPO_ROOT, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { exampleConfig } from '../helpers/examples.js';
import { mosquittoPub, mosquittoSub, startMosquittoFromConfig, type Mosquitto } from '../helpers/mosquitto.js';

let pki: TestPki;
let broker: Mosquitto;
let proxy: ProxyProcess;
const example = (f: string) => readFileSync(join(REPO_ROOT, 'examples/mosquitto', f), 'utf8');

before(async () => {
  pki = await makePki();
  broker = await startMosquittoFromConfig({ conf: example('mosquitto.conf'), acl: example('acl'), pkiDir: pki.dir });
  const config = exampleConfig('mosquitto', pki.dir, { mqtt: [`127.0.0.1:${broker.port}`] });
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await broker?.stop(); });

/** starts a subscriber and waits until the broker has its subscription; `done` is the subscriber's end */
async function subscribed(who: string, topic: string, o: { count?: number; timeoutS?: number; alpn?: string } = {}) {
  const before = broker.output().length;
  const sub = mosquittoSub(proxy.port, pki.dir, who, topic, o);
  const deadline = Date.now() + 15_000;
  while (!new RegExp(`Received SUBSCRIBE from [^\\n]*\\n[^\\n]*${topic.replace(/[#+/]/g, '.')}`).test(broker.output().slice(before))) {
    if (Date.now() > deadline) throw new Error(`no SUBSCRIBE for ${topic}: ${broker.output().slice(before)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { done: sub };
}

test('alice receives what she publishes on alice/#; the broker saw her CN as her user name', async () => {
  const sub = await subscribed('alice', 'alice/#', { count: 1, alpn: 'mqtt' });
  const pub = await mosquittoPub(proxy.port, pki.dir, 'alice', 'alice/status', 'up');
  assert.equal(pub.code, 0, pub.stderr);
  const r = await sub.done;
  assert.match(r.stdout, /^up$/m, r.stderr + broker.output());
  assert.match(broker.output(), /u'alice'/);
});

test('bob\'s publish on alice/# is dropped by the ACL', async () => {
  const sub = await subscribed('alice', 'alice/#', { count: 1, timeoutS: 4 });
  await mosquittoPub(proxy.port, pki.dir, 'bob', 'alice/status', 'bob was here');
  const r = await sub.done;
  assert.doesNotMatch(r.stdout, /bob was here/);
  assert.match(broker.output(), /u'bob'/, 'bob connected as user bob');
  assert.match(broker.output(), /Denied PUBLISH from [^\n]*'alice\/status'/);
});
