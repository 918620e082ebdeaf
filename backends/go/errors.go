package countersign

import "errors"

// Code is a stable error code, the same string the TypeScript library
// (countersign/backend) uses; the list is docs/errors.md.
type Code string

const (
	ErrConfigInvalid                Code = "ERR_CONFIG_INVALID"
	ErrCertInvalid                  Code = "ERR_CERT_INVALID"
	ErrCertExpired                  Code = "ERR_CERT_EXPIRED"
	ErrCertNotYetValid              Code = "ERR_CERT_NOT_YET_VALID"
	ErrCANotCA                      Code = "ERR_CA_NOT_CA"
	ErrDelegationExtensionMalformed Code = "ERR_DELEGATION_EXTENSION_MALFORMED"
	ErrDelegationExtensionVersion   Code = "ERR_DELEGATION_EXTENSION_VERSION"
	ErrDelegationUntrustedIssuer    Code = "ERR_DELEGATION_UNTRUSTED_ISSUER"
	ErrDelegationMissing            Code = "ERR_DELEGATION_MISSING"
	ErrNoPeerCertificate            Code = "ERR_NO_PEER_CERTIFICATE"
	ErrPeerUnauthorized             Code = "ERR_PEER_UNAUTHORIZED"
	ErrDirectNotAllowed             Code = "ERR_DIRECT_NOT_ALLOWED"
	ErrPolicyInvalid                Code = "ERR_POLICY_INVALID"
	ErrPolicyDenied                 Code = "ERR_POLICY_DENIED"
)

// Error is every error this package returns: a stable Code and a message that
// says what is wrong and what to do.
type Error struct {
	Code    Code
	Message string
	Cause   error
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, &countersign.Error{Code: countersign.ErrDirectNotAllowed}) match by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == ""
}

func newError(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// CodeOf returns the Code of a countersign error, or "" for any other error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
