/**
 * pki/: fingerprints and identities, PEM/DER helpers, certificate fields, key
 * material. Everything here needs only node: built-ins, so the backend library
 * imports it too. Issuing certificates (the dev PKI) is ./dev/index.ts.
 */
export * as der from './der.js';
export { pemBlocks, certificatesDer, toPem, type PemBlock } from './pem.js';
export { parseCertificateFields, findExtension, OID, type CertificateFields, type RawExtension } from './x509-fields.js';
export { describeCertificate, identityOf, assertCurrentlyValid, serialHex, sha1, sha256, type CertificateInfo } from './certificate-info.js';
export { loadKeyMaterial, loadSigningCa, loadCertificates, type KeyMaterial, type KeyMaterialInput } from './key-material.js';
export { formatDerName, nameAttributes, type NameAttribute } from './name-format.js';
export { readTicketKeyFile, nodeTicketKeys, type TicketKeyFile } from './session-ticket-keys.js';
export { certificateNames, type CertificateNames } from './certificate-names.js';
export { parseSpiffeId, parseSpiffePattern, spiffeMatches, SPIFFE_ID_MAX_LENGTH, type SpiffeId, type SpiffePattern } from './spiffe-id.js';
