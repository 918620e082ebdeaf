import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { command } from '../../src/cli/commands/inspect.js';
import { DelegationMinter } from '../../src/delegation/delegation-minter.js';
import { DEFAULT_DELEGATION_LIMITS } from '../../src/config/index.js';
import { DELEGATION_OID } from '../../src/delegation/extension-codec.js';
import { describeCertificate } from '../../src/pki/certificate-info.js';
import { issueCertificate } from '../../src/pki/dev/issue-certificate.js';
import { captureIo, delegationTestPki, tempDir, type DelegationTestPki } from '../helpers/delegation-pki.js';
import { ALICE_IDENTITY, ALICE_NOT_AFTER, ALICE_PEM, ALICE_SERIAL, ALICE_SHA1, ALICE_SHA256 } from '../helpers/golden-certificates.js';

let tmp: { dir: string; remove: () => Promise<void> };
let pki: DelegationTestPki;
const minters: DelegationMinter[] = [];
before(async () => { tmp = await tempDir(); pki = await delegationTestPki(); });
after(async () => { for (const m of minters) m.stop(); await tmp.remove(); });

async function file(name: string, content: string | Buffer): Promise<string> {
  const p = join(tmp.dir, name);
  await writeFile(p, content);
  return p;
}

async function inspect(args: string[]) {
  const io = captureIo();
  const code = await command.run(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

function mint(embedOriginal: boolean, namesVouched = true) {
  const m = new DelegationMinter({ ...DEFAULT_DELEGATION_LIMITS, ca: pki.delegationMaterial, keyPoolSize: 1, embedOriginal });
  minters.push(m);
  return m.credentialsFor(describeCertificate(pki.alice.cert.raw), { namesVouched });
}

const field = (out: string, name: string) => new RegExp(`^\\s+${name}:\\s+(.*)$`, 'm').exec(out)?.[1];

test('a plain certificate: subject, issuer, serial, validity, identity, thumbprints, SANs (openssl-made golden)', async () => {
  const r = await inspect([await file('alice.crt', ALICE_PEM)]);
  assert.equal(r.code, 0, r.err);
  assert.equal(field(r.out, 'subject'), 'CN=alice+UID=a1, O=Example\\, Inc., OU=R&D');
  assert.equal(field(r.out, 'issuer'), 'CN=golden CA');
  assert.equal(field(r.out, 'serial'), ALICE_SERIAL);
  assert.equal(field(r.out, 'not after'), ALICE_NOT_AFTER);
  assert.equal(field(r.out, 'identity'), ALICE_IDENTITY);
  assert.equal(field(r.out, 'sha256'), ALICE_SHA256);
  assert.equal(field(r.out, 'sha1'), ALICE_SHA1);
  assert.equal(field(r.out, 'subjectAltName'), 'DNS:alice.example, URI:spiffe://example/alice, email:alice@example.com');
  assert.match(r.out, /delegation extension: none/);
});

test('a minted certificate: the decoded delegation extension describes the original', async () => {
  const creds = mint(false);
  const alice = describeCertificate(pki.alice.cert.raw);
  const r = await inspect([await file('minted.crt', creds.certPem)]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`delegation extension ${DELEGATION_OID.replace(/\./g, '\\.')} \\(version 2\\):`));
  assert.equal(field(r.out, 'original identity'), alice.identity);
  assert.notEqual(field(r.out, 'identity'), alice.identity, 'the minted key is not the original');
  assert.equal(field(r.out, 'original sha256'), alice.certSha256);
  assert.equal(field(r.out, 'original sha1'), alice.certSha1);
  assert.equal(field(r.out, 'original subject'), 'CN=alice, O=Example');
  assert.equal(field(r.out, 'subject'), field(r.out, 'original subject'), 'the subject is copied verbatim');
  assert.equal(field(r.out, 'original issuer'), 'CN=test client CA');
  assert.equal(field(r.out, 'issuer'), 'CN=test delegation CA');
  assert.equal(field(r.out, 'original serial'), alice.serial);
  assert.equal(field(r.out, 'original not after'), alice.notAfter.toISOString());
  assert.equal(field(r.out, 'original embedded'), 'no');
  assert.match(field(r.out, 'names vouched') ?? '', /^yes/);
});

test('a certificate minted for names no CA vouched for: CN=<identity>, no SAN, "names vouched: no"', async () => {
  const creds = mint(false, false);
  const r = await inspect([await file('unvouched.crt', creds.certPem)]);
  assert.equal(r.code, 0, r.err);
  const alice = describeCertificate(pki.alice.cert.raw);
  assert.equal(field(r.out, 'subject'), `CN=${alice.identity}`);
  assert.equal(field(r.out, 'subjectAltName'), '(none)');
  assert.equal(field(r.out, 'original subject'), 'CN=alice, O=Example', 'the claim is kept in the extension');
  assert.match(field(r.out, 'names vouched') ?? '', /^no \(no CA vouched for them/);
});

test('--json, with the original certificate embedded', async () => {
  const creds = mint(true);
  const r = await inspect([await file('embedded.crt', creds.certPem), '--json']);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  assert.equal(report.delegation.originalIdentity, describeCertificate(pki.alice.cert.raw).identity);
  assert.deepEqual(report.delegation.embedded, { bytes: pki.alice.cert.raw.length, matchesSha256: true });
  assert.equal(report.ca, false);
});

test('a bundle prints every certificate', async () => {
  const r = await inspect([await file('bundle.pem', pki.alice.certPem + pki.clientCa.certPem)]);
  assert.equal(r.code, 0);
  assert.match(r.out, /certificate 1 of 2/);
  assert.match(r.out, /certificate 2 of 2/);
  assert.match(r.out, /CA:\s+yes/);
});

test('a malformed delegation extension is shown as such and exits 1', async () => {
  const bad = await issueCertificate({ subject: 'CN=bad', extraExtensions: [{ oid: DELEGATION_OID, critical: false, value: Buffer.from('3003020103', 'hex') }] });
  const r = await inspect([await file('bad.crt', bad.certPem)]);
  assert.equal(r.code, 1);
  assert.match(r.out, /delegation extension: MALFORMED \(ERR_DELEGATION_EXTENSION_VERSION: .*version 3/);
  assert.match(r.err, /bad\.crt: the delegation extension cannot be decoded/);
});

test('--oid reads the extension under another OID', async () => {
  const creds = mint(false);
  const path = await file('minted2.crt', creds.certPem);
  const r = await inspect([path, '--oid', '1.2.3.4']);
  assert.equal(r.code, 0);
  assert.match(r.out, /delegation extension: none/, 'not found under the other OID');
});

test('errors: missing file exits 1, usage errors exit 2', async () => {
  const missing = await inspect([join(tmp.dir, 'missing.crt')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /missing\.crt: no such file/);
  for (const args of [[], ['a', 'b'], ['x.crt', '--oid', 'not-an-oid'], ['x.crt', '--verbose']]) {
    const r = await inspect(args);
    assert.equal(r.code, 2, JSON.stringify(args));
    assert.match(r.err, /usage: countersign inspect FILE/);
  }
});
