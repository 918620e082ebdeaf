/**
 * Where a certificate says its revocation is published: the `http:` URIs of
 * its CRL distribution points (RFC 5280 §4.2.1.13) and of the OCSP
 * responders in its authorityInfoAccess (§4.2.2.1). Decoded with
 * @peculiar/asn1-x509; read once per certificate (memoised).
 */
import type { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityInfoAccessSyntax, CRLDistributionPoints, id_ad_ocsp, id_ce_cRLDistributionPoints, id_pe_authorityInfoAccess, type GeneralName } from '@peculiar/asn1-x509';
import { findExtension, parseCertificateFields } from '../../pki/index.js';

export interface RevocationUrls {
  /** http: CRL distribution points (ldap: and others are not fetched) */
  crl: string[];
  /** http: OCSP responders */
  ocsp: string[];
}

const memo = new WeakMap<X509Certificate, RevocationUrls>();
const httpUri = (n: GeneralName | undefined) => (n?.uniformResourceIdentifier && /^http:\/\//i.test(n.uniformResourceIdentifier) ? [n.uniformResourceIdentifier] : []);

export function revocationUrls(cert: X509Certificate): RevocationUrls {
  let urls = memo.get(cert);
  if (urls) return urls;
  urls = { crl: [], ocsp: [] };
  try {
    const fields = parseCertificateFields(cert.raw);
    const dp = findExtension(fields, id_ce_cRLDistributionPoints);
    if (dp) {
      for (const point of AsnConvert.parse(dp.value, CRLDistributionPoints)) {
        // a point with cRLIssuer is an indirect CRL: signed by someone else, not followed
        if (point.cRLIssuer) continue;
        for (const name of point.distributionPoint?.fullName ?? []) urls.crl.push(...httpUri(name));
      }
    }
    const aia = findExtension(fields, id_pe_authorityInfoAccess);
    if (aia) {
      for (const d of AsnConvert.parse(aia.value, AuthorityInfoAccessSyntax)) {
        if (d.accessMethod === id_ad_ocsp) urls.ocsp.push(...httpUri(d.accessLocation));
      }
    }
  } catch { /* a malformed extension names no URL; OpenSSL judged the certificate itself */ }
  memo.set(cert, urls);
  return urls;
}
