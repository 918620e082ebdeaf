/**
 * edge/revocation/: whether a client's certificates are revoked — CRLs parsed
 * and verified once, looked up per certificate, from files and (later)
 * distribution points and OCSP.
 */
export { crlDers, parseCrl, parseCrlInSlices, normalSerial, crlWork, type ParsedCrl } from './crl.js';
export { CrlSet, crlStatus, type CrlStatus, type CrlLookup } from './crl-set.js';
export { verifySignedBy } from './signature.js';
export { crlSourceStatus, freshness, type RevocationSourceKind, type RevocationSourceStatus } from './source-status.js';
export type { DistributionPointsOptions } from './distribution-points.js';
export { RevocationStateStore } from './state-store.js';
// DistributionPoints, the OCSP checker and revocationUrls are not exported from here: they
// load @peculiar's ASN.1 libraries (~5 MiB once loaded), so RevocationSources imports them
// when a config turns them on, and nothing else needs them at start.
export { RevocationSources, type RevocationSourcesOptions, type RevocationHooks } from './revocation-sources.js';
