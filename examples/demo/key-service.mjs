// A small KES-like key service that sits behind countersign. It trusts the
// delegation CA, recovers the real client from the countersigned certificate
// with countersign/backend, and applies KES-style policies.
//
// Run alone:  node examples/demo/key-service.mjs [certsDir] [port]
import { createServer } from 'node:https';
import { randomBytes, createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createIdentifier, createPolicyEngine, countersignHandler } from 'countersign/backend';

function identityOfFile(file) {
  // Same value as `countersign identity of FILE`: SHA-256 of the DER SubjectPublicKeyInfo.
  const spki = new X509Certificate(readFileSync(file)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

export async function startKeyService({ certsDir = 'certs', host = '127.0.0.1', port = 7373, log = console.log } = {}) {
  const read = (f) => readFileSync(join(certsDir, f));
  const identities = {
    alice: identityOfFile(join(certsDir, 'alice.crt')),
    bob: identityOfFile(join(certsDir, 'bob.crt')),
    root: identityOfFile(join(certsDir, 'root.crt')),
  };
  const policy = createPolicyEngine({
    policies: {
      'app-operator': {
        allow: ['/v1/status', '/v1/key/create/app-*', '/v1/key/generate/app-*', '/v1/key/list/*'],
        deny: ['/v1/key/delete/*'],
        identities: [identities.alice],
      },
      'auditor': { allow: ['/v1/status', '/v1/key/list/*'], identities: [identities.bob] },
    },
    disabled: [identities.root], // as the KES guide advises: root never acts
  });
  const identifier = createIdentifier({ delegationCAs: read('delegation-ca.crt') });
  const keys = new Map();
  const guard = countersignHandler({
    identifier,
    policy,
    onRefused: (e) => log(`key-service: ${e.status} ${e.method} ${e.path} identity=${e.identity ?? '-'} reason="${e.reason}"`),
  });
  const json = (res, status, body) => {
    const text = JSON.stringify(body, null, 2) + '\n';
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createServer({
    cert: read('backend.crt'), key: read('backend.key'),
    ca: read('delegation-ca.crt'), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3',
  }, guard((req, res) => {
    const who = req.countersign;
    const url = new URL(req.url, 'https://x');
    const [, v1, api, op, name] = url.pathname.split('/');
    if (v1 !== 'v1') return json(res, 404, { code: 'ERR_NOT_FOUND', message: 'not found' });
    const client = { identity: who.identity, subject: who.subject, via: who.via, policy: who.policy };
    if (api === 'status') return json(res, 200, { status: 'ok', client });
    if (api === 'key' && op === 'create' && name) {
      if (keys.has(name)) return json(res, 409, { code: 'ERR_KEY_EXISTS', message: `key ${name} already exists` });
      keys.set(name, randomBytes(32));
      return json(res, 200, { created: name, client });
    }
    if (api === 'key' && op === 'generate' && name) {
      const key = keys.get(name);
      if (!key) return json(res, 404, { code: 'ERR_KEY_NOT_FOUND', message: `key ${name} does not exist` });
      return json(res, 200, { key: name, plaintext: randomBytes(32).toString('base64'), client });
    }
    if (api === 'key' && op === 'list') return json(res, 200, { keys: [...keys.keys()], client });
    if (api === 'key' && op === 'delete' && name) { keys.delete(name); return json(res, 200, { deleted: name }); }
    return json(res, 404, { code: 'ERR_NOT_FOUND', message: 'not found' });
  }));
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  return { server, identities, port: server.address().port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = await startKeyService({ certsDir: process.argv[2] ?? 'certs', port: Number(process.argv[3] ?? 7373) });
  console.log(`key service on https://127.0.0.1:${s.port}`);
}
