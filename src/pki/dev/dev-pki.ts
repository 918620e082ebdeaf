/**
 * A complete development PKI, written in one go: edge, client, delegation and
 * backend CAs with their leaves. Keys are written 0600.
 */
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCertificate, type IssuedCertificate } from './issue-certificate.js';

export interface DevPkiFile { path: string; description: string; secret: boolean }

export interface DevPki {
  edgeCa: IssuedCertificate;
  edge: IssuedCertificate;
  clientCa: IssuedCertificate;
  clients: Record<'alice' | 'bob' | 'root', IssuedCertificate>;
  delegationCa: IssuedCertificate;
  backendCa: IssuedCertificate;
  backend: IssuedCertificate;
  proxyClient: IssuedCertificate;
}

export interface DevPkiOptions {
  /** extra DNS names for the edge certificate (always: localhost) */
  edgeNames?: string[];
  /** extra DNS names for the backend certificate (always: localhost, backend.internal) */
  backendNames?: string[];
}

export async function generateDevPki(opts: DevPkiOptions = {}): Promise<DevPki> {
  const tenYears = new Date(Date.now() + 3650 * 86400_000);
  const edgeCa = await issueCertificate({ subject: 'CN=countersign dev edge CA', ca: true, notAfter: tenYears });
  const clientCa = await issueCertificate({ subject: 'CN=countersign dev client CA', ca: true, notAfter: tenYears });
  const delegationCa = await issueCertificate({ subject: 'CN=countersign dev delegation CA', ca: true, notAfter: tenYears });
  const backendCa = await issueCertificate({ subject: 'CN=countersign dev backend CA', ca: true, notAfter: tenYears });
  const edge = await issueCertificate({
    subject: 'CN=localhost', issuer: edgeCa, usage: 'server',
    dnsNames: ['localhost', ...(opts.edgeNames ?? [])], ipAddresses: ['127.0.0.1', '::1'],
  });
  const client = (name: string) => issueCertificate({ subject: `CN=${name}, O=countersign dev`, issuer: clientCa, usage: 'client' });
  const clients = { alice: await client('alice'), bob: await client('bob'), root: await client('root') };
  const backend = await issueCertificate({
    subject: 'CN=backend.internal', issuer: backendCa, usage: 'server',
    dnsNames: ['backend.internal', 'localhost', ...(opts.backendNames ?? [])], ipAddresses: ['127.0.0.1'],
  });
  const proxyClient = await issueCertificate({ subject: 'CN=countersign proxy', issuer: backendCa, usage: 'client' });
  return { edgeCa, edge, clientCa, clients, delegationCa, backendCa, backend, proxyClient };
}

/** Writes the PKI under `dir`; returns what was written. Keys get mode 0600. */
export async function writeDevPki(pki: DevPki, dir: string): Promise<DevPkiFile[]> {
  await mkdir(dir, { recursive: true });
  const files: DevPkiFile[] = [];
  const put = async (name: string, c: IssuedCertificate, description: string, withKey: boolean) => {
    const certPath = join(dir, `${name}.crt`);
    await writeFile(certPath, c.certPem, { mode: 0o644 });
    files.push({ path: certPath, description, secret: false });
    if (withKey) {
      const keyPath = join(dir, `${name}.key`);
      await writeFile(keyPath, c.keyPem, { mode: 0o600 });
      await chmod(keyPath, 0o600); // mode on writeFile is ignored when the file already exists
      files.push({ path: keyPath, description: `private key of ${name}.crt`, secret: true });
    }
  };
  await put('edge-ca', pki.edgeCa, 'CA that issued the edge server certificate (give it to curl --cacert)', true);
  await put('edge', pki.edge, 'edge server certificate for localhost, 127.0.0.1, ::1', true);
  await put('client-ca', pki.clientCa, 'CA the edge trusts for client certificates', true);
  for (const [name, c] of Object.entries(pki.clients)) await put(name, c, `client certificate CN=${name}`, true);
  await put('delegation-ca', pki.delegationCa, 'delegation CA the proxy mints with (backends trust its certificate)', true);
  await put('backend-ca', pki.backendCa, 'CA of the backend server certificates (the proxy verifies upstreams with it)', true);
  await put('backend', pki.backend, 'backend server certificate for backend.internal, localhost, 127.0.0.1', true);
  await put('proxy-client', pki.proxyClient, "the proxy's own client certificate for header mode (issued by backend-ca)", true);
  return files;
}
