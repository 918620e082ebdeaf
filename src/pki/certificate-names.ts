/**
 * The names a certificate holds that access rules compare: subject CN, OU and
 * O (every value, in encoding order), and the subjectAltName's DNS names
 * (lowercase), email addresses (rfc822Name) and URIs.
 */
import { TAG, content, readChildren, readRoot } from './der.js';
import { nameAttributes } from './name-format.js';
import { findExtension, OID, type CertificateFields } from './x509-fields.js';

export interface CertificateNames {
  cn: string[];
  ou: string[];
  o: string[];
  dns: string[];
  email: string[];
  uri: string[];
}

const ATTR = { '2.5.4.3': 'cn', '2.5.4.11': 'ou', '2.5.4.10': 'o' } as const;

export function certificateNames(fields: CertificateFields): CertificateNames {
  const names: CertificateNames = { cn: [], ou: [], o: [], dns: [], email: [], uri: [] };
  for (const a of nameAttributes(fields.subject)) {
    const k = ATTR[a.oid as keyof typeof ATTR];
    if (k) names[k].push(a.value);
  }
  const ext = findExtension(fields, OID.subjectAltName);
  if (ext) {
    for (const gn of readChildren(ext.value, readRoot(ext.value, TAG.SEQUENCE))) {
      const text = content(ext.value, gn).toString('latin1'); // IA5String bodies
      if (gn.tag === 0x81) names.email.push(text); // [1] rfc822Name
      else if (gn.tag === 0x82) names.dns.push(text.toLowerCase().replace(/\.$/, '')); // [2] dNSName
      else if (gn.tag === 0x86) names.uri.push(text); // [6] uniformResourceIdentifier
    }
  }
  return names;
}
