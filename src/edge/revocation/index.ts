/**
 * edge/revocation/: whether a client's certificates are revoked — CRLs parsed
 * and verified once, looked up per certificate, from files and (later)
 * distribution points and OCSP.
 */
export { crlDers, parseCrl, parseCrlInSlices, normalSerial, crlWork, type ParsedCrl } from './crl.js';
export { CrlSet, crlStatus, type CrlStatus, type CrlLookup } from './crl-set.js';
export { verifySignedBy } from './signature.js';
export { crlSourceStatus, freshness, type RevocationSourceKind, type RevocationSourceStatus } from './source-status.js';
export { DistributionPoints, type DistributionPointsOptions } from './distribution-points.js';
export { RevocationStateStore } from './state-store.js';
export { revocationUrls } from './certificate-urls.js';
export { RevocationSources, type RevocationSourcesOptions, type RevocationHooks } from './revocation-sources.js';
