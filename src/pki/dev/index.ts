/**
 * Certificate issuance for the dev PKI (`countersign certs init`, the demo) and
 * for tests: never on the hot path and never reached by the backend library
 * (it loads @peculiar/x509). The rest of pki/ is the folder's own front door,
 * ../index.ts.
 */
export { issueCertificate, type IssuedCertificate, type IssueOptions, type KeyAlgorithm } from './issue-certificate.js';
export { generateDevPki, writeDevPki, type DevPki, type DevPkiFile, type DevPkiOptions } from './dev-pki.js';
