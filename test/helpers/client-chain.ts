/**
 * A client CA with an intermediate: an intermediate CA issued by the test
 * PKI's client CA, and leaves issued by the intermediate, written as
 * <name>.crt (leaf + intermediate, as a client sends them) and <name>.key.
 */
import { writeFile } from 'node:fs/promises';
import { issueCertificate, type IssuedCertificate, type IssueOptions } from '../../src/pki/dev/index.js';

export interface IntermediateCa {
  intermediate: IssuedCertificate;
  /** <dir>/intermediate-chain.pem: the intermediate alone (what `openssl s_client -cert_chain` takes) */
  chainFile: string;
  /** issues a leaf under the intermediate and writes <dir>/<name>.crt (leaf + intermediate) and .key */
  leaf(name: string, extra?: Partial<IssueOptions>): Promise<IssuedCertificate>;
}

export async function writeIntermediateCa(dir: string, root: IssuedCertificate, o: { subject?: string; extra?: Partial<IssueOptions> } = {}): Promise<IntermediateCa> {
  const intermediate = await issueCertificate({ subject: o.subject ?? 'CN=countersign test client intermediate', ca: true, issuer: root, ...o.extra });
  const chainFile = `${dir}/intermediate-chain.pem`;
  await writeFile(chainFile, intermediate.certPem);
  return {
    intermediate, chainFile,
    leaf: async (name, extra = {}) => {
      const leaf = await issueCertificate({ subject: `CN=${name}, O=countersign test`, issuer: intermediate, usage: 'client', ...extra });
      await writeFile(`${dir}/${name}.crt`, leaf.certPem + intermediate.certPem);
      await writeFile(`${dir}/${name}.key`, leaf.keyPem, { mode: 0o600 });
      return leaf;
    },
  };
}
