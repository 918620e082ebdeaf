/**
 * countersign/backend: recover the real client behind a countersign proxy (or
 * a trusted header-mode proxy), and decide what it may do.
 *
 * Imports only pki/ (through its front door, which holds no certificate
 * issuance: that is pki/dev/), delegation/'s codec (directly: delegation's
 * index also brings the minter and lru-cache) and errors. A backend installs
 * this and nothing else comes along (test/unit/backend-dependencies.test.ts).
 */
export {
  createIdentifier,
  type Identifier, type IdentifierOptions, type IdentityVia, type ResolvedIdentity, type Voucher, type HeaderIgnored, type IdentifiableRequest,
} from './identifier.js';
export { loadDelegationAnchors, type CertificateInput, type DelegationAnchor } from './delegation-trust.js';
// describeCertificate under the names the backend has always exported
export { describeCertificate as summarizeCertificate, serialHex, type CertificateInfo as CertificateSummary } from '../pki/index.js';
export {
  DEFAULT_HEADER_FORMAT, DEFAULT_HEADER_NAMES, RFC9440_CHAIN_SUFFIX,
  decodeEscapedPemHeader, decodeRfc9440Header, decodeXfccHeader, parseXfcc, readForwardedCertificate, resolveHeaderSpecs,
  type HeaderFormat, type HeaderSpec, type ResolvedHeaderSpec, type XfccElement, type ForwardedCertificate, type HeaderSource,
} from './identity-headers.js';
export {
  PolicyEngine, createPolicyEngine, CLIENT_DENIAL_MESSAGE,
  type PolicyDefinition, type PolicyEngineOptions, type AuthorizationResult, type DenialReason,
} from './policy.js';
export { compilePathPattern, pathMatch, type PathMatcher } from './path-match.js';
export {
  createGuard, countersignHandler, countersignExpress, countersignFastify, countersignOnRequest, countersignOf, policyPath,
  type GuardOptions, type GuardOutcome, type RequestIdentity, type RefusalEvent, type ErrorBody, type CountersignRequest,
  type FastifyLikeRequest, type FastifyLikeReply,
} from './middleware.js';
export { DELEGATION_OID, decodeDelegationExtension, type DelegationExtension } from '../delegation/extension-codec.js';
export { CountersignError, isCountersignError, ERROR_CODES, type ErrorCode } from '../errors.js';
