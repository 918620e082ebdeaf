export * as der from './der.js';
export { pemBlocks, certificatesDer, toPem, type PemBlock } from './pem.js';
export { parseCertificateFields, findExtension, OID, type CertificateFields, type RawExtension } from './x509-fields.js';
export { describeCertificate, identityOf, assertCurrentlyValid, serialHex, sha1, sha256, type CertificateInfo } from './certificate-info.js';
export { loadKeyMaterial, loadSigningCa, loadCertificates, type KeyMaterial, type KeyMaterialInput } from './key-material.js';
export { issueCertificate, type IssuedCertificate, type IssueOptions, type KeyAlgorithm } from './issue-certificate.js';
export { generateDevPki, writeDevPki, type DevPki, type DevPkiFile, type DevPkiOptions } from './dev-pki.js';
export { formatDerName } from './name-format.js';
