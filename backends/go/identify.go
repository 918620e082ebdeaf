package countersign

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Via says who vouched for an identity.
type Via string

const (
	// ViaDirect: the client connected itself (only with Options.AllowDirect).
	ViaDirect Via = "direct"
	// ViaDelegated: countersign minted the peer certificate; the identity is the original client's.
	ViaDelegated Via = "delegated"
)

// Options configure an Identifier.
type Options struct {
	// DelegationCAs are the delegation CA certificates whose minted
	// certificates are believed, pinned by public key: a certificate carrying
	// the extension is believed only if its signature verifies with one of
	// these keys. The TLS server must trust them too (ClientCAs), or the
	// handshake refuses minted certificates. Default: none.
	DelegationCAs []*x509.Certificate
	// AllowDirect accepts clients that connect directly, identified by their
	// own certificate. Default false.
	AllowDirect bool
	// ExtensionOID is the delegation extension's OID; must match the proxy's
	// delegation.extensionOid. Default DefaultExtensionOID.
	ExtensionOID string
	// Now is the clock for validity checks. Default time.Now.
	Now func() time.Time
}

// Voucher is the delegation CA that signed a delegated certificate.
type Voucher struct {
	Identity   string // hex SHA-256 of the CA's SubjectPublicKeyInfo
	Subject    string
	CertSHA256 string
}

// Identity is the resolved identity of a TLS peer.
type Identity struct {
	Via Via
	// Identity is the lowercase hex SHA-256 of the original certificate's
	// SubjectPublicKeyInfo: what `kes tool identity of` prints, what policies are keyed on.
	Identity   string
	CertSHA256 string // lowercase hex SHA-256 of the original certificate
	CertSHA1   string // uppercase hex SHA-1 of the original certificate
	Subject    string // "CN=alice, O=Example" (FormatName)
	Issuer     string
	// NamesVouched: a CA vouched for Subject (and the certificate's other
	// names). Direct: true, crypto/tls verified the chain. Delegated: what the
	// proxy's extension says — false for a client that reached countersign in
	// clientAuth mode any with a certificate no configured client CA issued (a
	// self-signed one names itself), and for v1 extensions. When false, never
	// authorize by Subject or any name: only by Identity.
	NamesVouched bool
	Serial       string // uppercase hex, as OpenSSL prints it
	NotAfter     time.Time
	// Proxy is the delegation CA that signed the minted certificate; nil for direct clients.
	Proxy *Voucher
	// Certificate is the original certificate's DER, when known (direct, or embedded by the proxy).
	Certificate []byte
	// Policy is the policy that allowed the request; set by Middleware when it has a PolicyEngine.
	Policy string
}

type anchor struct {
	cert    *x509.Certificate
	voucher Voucher
}

// Identifier resolves TLS peers. Safe for concurrent use.
type Identifier struct {
	anchors     []anchor
	allowDirect bool
	oid         string
	now         func() time.Time
}

var dottedOID = regexp.MustCompile(`^[0-2](\.(0|[1-9][0-9]*))+$`)

// NewIdentifier validates the options: every delegation CA must be a CA
// certificate (ErrCANotCA), the OID dotted, and some client identifiable.
func NewIdentifier(opts Options) (*Identifier, error) {
	id := &Identifier{allowDirect: opts.AllowDirect, oid: opts.ExtensionOID, now: opts.Now}
	for i, c := range opts.DelegationCAs {
		if c == nil {
			return nil, newError(ErrConfigInvalid, fmt.Sprintf("DelegationCAs[%d] is nil", i))
		}
		subject, _ := FormatName(c.RawSubject)
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, newError(ErrCANotCA, fmt.Sprintf("DelegationCAs[%d]: %q is not a CA certificate (basicConstraints CA:TRUE is missing); give the delegation CA's certificate (delegation-ca.crt), not a leaf", i, subject))
		}
		id.anchors = append(id.anchors, anchor{cert: c, voucher: Voucher{Identity: sha256Hex(c.RawSubjectPublicKeyInfo), Subject: subject, CertSHA256: sha256Hex(c.Raw)}})
	}
	if id.oid == "" {
		id.oid = DefaultExtensionOID
	}
	if !dottedOID.MatchString(id.oid) {
		return nil, newError(ErrConfigInvalid, fmt.Sprintf("ExtensionOID: %q is not a dotted OID", id.oid))
	}
	if id.now == nil {
		id.now = time.Now
	}
	if len(id.anchors) == 0 && !id.allowDirect {
		return nil, newError(ErrConfigInvalid, "NewIdentifier: no client could ever be identified; give DelegationCAs, or set AllowDirect")
	}
	return id, nil
}

// Identify is NewIdentifier(opts) then Identify(state), for one-off use; a
// server builds one Identifier at start-up instead.
func Identify(state *tls.ConnectionState, opts Options) (*Identity, error) {
	id, err := NewIdentifier(opts)
	if err != nil {
		return nil, err
	}
	return id.Identify(state)
}

// Identify resolves the peer of a TLS connection (r.TLS in a handler, or
// conn.ConnectionState()). The chain must have been verified by crypto/tls
// (ClientAuth: tls.RequireAndVerifyClientCert or VerifyClientCertIfGiven).
func (id *Identifier) Identify(state *tls.ConnectionState) (*Identity, error) {
	if state == nil {
		return nil, newError(ErrNoPeerCertificate, "the connection is not TLS; serve with ListenAndServeTLS and a tls.Config with ClientAuth")
	}
	if len(state.PeerCertificates) == 0 {
		return nil, newError(ErrNoPeerCertificate, "the client presented no certificate; the server must request one (tls.Config.ClientAuth) and the client must send one")
	}
	if len(state.VerifiedChains) == 0 {
		subject, _ := FormatName(state.PeerCertificates[0].RawSubject)
		return nil, newError(ErrPeerUnauthorized, fmt.Sprintf("the client certificate %q was not verified against the server's trust store; use ClientAuth: tls.RequireAndVerifyClientCert with ClientCAs", subject))
	}
	return id.IdentifyCertificate(state.PeerCertificates[0], state.PeerCertificates[1:]...)
}

// IdentifyCertificate resolves a peer certificate that the TLS layer has
// already verified. The delegation extension is believed only when the
// certificate's signature verifies with a pinned delegation CA key — or with
// the key of a presented intermediate (a per-instance delegation intermediate,
// sent after the minted certificate) that is a CA and whose own signature
// verifies with a pinned key. Signatures decide, never names.
func (id *Identifier) IdentifyCertificate(cert *x509.Certificate, presented ...*x509.Certificate) (*Identity, error) {
	if cert == nil {
		return nil, newError(ErrNoPeerCertificate, "no peer certificate")
	}
	subject, err := FormatName(cert.RawSubject)
	if err != nil {
		return nil, &Error{Code: ErrCertInvalid, Message: "the client certificate's subject cannot be decoded: " + err.Error(), Cause: err}
	}
	issuer, err := FormatName(cert.RawIssuer)
	if err != nil {
		return nil, &Error{Code: ErrCertInvalid, Message: "the client certificate's issuer cannot be decoded: " + err.Error(), Cause: err}
	}
	var ext []byte
	found := false
	for _, e := range cert.Extensions {
		if e.Id.String() == id.oid {
			ext, found = e.Value, true
			break
		}
	}
	var a *anchor
	for i := range id.anchors {
		// the signature alone decides; names are free to copy
		if cert.CheckSignatureFrom(id.anchors[i].cert) == nil {
			a = &id.anchors[i]
			break
		}
	}
	var intermediate *x509.Certificate
	if found && a == nil && len(id.anchors) > 0 {
		for _, i := range presented {
			// CheckSignatureFrom insists that the parent is a CA (basicConstraints CA:TRUE)
			if i == nil || cert.CheckSignatureFrom(i) != nil {
				continue
			}
			for k := range id.anchors {
				if i.CheckSignatureFrom(id.anchors[k].cert) == nil {
					a, intermediate = &id.anchors[k], i
					break
				}
			}
			if a != nil {
				break
			}
		}
	}
	if found && a == nil {
		return nil, newError(ErrDelegationUntrustedIssuer, fmt.Sprintf("certificate %q carries a delegation extension but was not signed by a trusted delegation CA (issuer %q); refused — only certificates minted by a pinned delegation CA are believed", subject, issuer))
	}
	if a != nil && !found {
		return nil, newError(ErrDelegationMissing, fmt.Sprintf("certificate %q was issued by delegation CA %q but has no delegation extension %s; check that the proxy and backend use the same extension OID", subject, a.voucher.Subject, id.oid))
	}
	if a != nil {
		now := id.now()
		if err := checkValidity("delegation CA", a.voucher.Subject, a.cert.NotBefore, a.cert.NotAfter, now, "replace the delegation CA"); err != nil {
			return nil, err
		}
		if intermediate != nil {
			isub, _ := FormatName(intermediate.RawSubject)
			if err := checkValidity("delegation intermediate CA", isub, intermediate.NotBefore, intermediate.NotAfter, now, "replace the proxy instance's intermediate"); err != nil {
				return nil, err
			}
		}
		if err := checkValidity("delegated certificate", subject, cert.NotBefore, cert.NotAfter, now, "the proxy mints a fresh one on the next connection"); err != nil {
			return nil, err
		}
		d, err := DecodeExtension(ext)
		if err != nil {
			return nil, err
		}
		if d.Certificate != nil {
			sum := sha256.Sum256(d.Certificate)
			if !bytes.Equal(sum[:], d.CertSHA256) {
				return nil, malformed("the embedded certificate does not match certSha256")
			}
		}
		origSubject, err := FormatName(d.Subject)
		if err != nil {
			return nil, malformed("a Name cannot be decoded (%v)", err)
		}
		origIssuer, err := FormatName(d.Issuer)
		if err != nil {
			return nil, malformed("a Name cannot be decoded (%v)", err)
		}
		if now.After(d.NotAfter) {
			return nil, newError(ErrCertExpired, fmt.Sprintf("the original client certificate %q expired at %s; the client must renew it", origSubject, d.NotAfter.Format(time.RFC3339)))
		}
		v := a.voucher
		return &Identity{
			Via: ViaDelegated, Identity: hex.EncodeToString(d.SPKISHA256), CertSHA256: hex.EncodeToString(d.CertSHA256),
			CertSHA1: strings.ToUpper(hex.EncodeToString(d.CertSHA1)), Subject: origSubject, Issuer: origIssuer, NamesVouched: d.NamesVouched,
			Serial: serialHex(d.Serial), NotAfter: d.NotAfter, Proxy: &v, Certificate: d.Certificate,
		}, nil
	}
	if !id.allowDirect {
		return nil, newError(ErrDirectNotAllowed, fmt.Sprintf("client %q (%s) connected directly, but this backend accepts only delegated identities; connect through countersign, or set AllowDirect", subject, sha256Hex(cert.RawSubjectPublicKeyInfo)))
	}
	s1 := sha1.Sum(cert.Raw)
	return &Identity{
		Via: ViaDirect, Identity: sha256Hex(cert.RawSubjectPublicKeyInfo), CertSHA256: sha256Hex(cert.Raw),
		CertSHA1: strings.ToUpper(hex.EncodeToString(s1[:])), Subject: subject, Issuer: issuer, NamesVouched: true,
		Serial: serialOf(cert), NotAfter: cert.NotAfter, Certificate: cert.Raw,
	}, nil
}

func checkValidity(what, subject string, notBefore, notAfter, now time.Time, fix string) error {
	if now.After(notAfter) {
		return newError(ErrCertExpired, fmt.Sprintf("%s %q expired at %s; %s", what, subject, notAfter.UTC().Format(time.RFC3339), fix))
	}
	if now.Before(notBefore) {
		return newError(ErrCertNotYetValid, fmt.Sprintf("%s %q is not valid before %s; check the clocks", what, subject, notBefore.UTC().Format(time.RFC3339)))
	}
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// serialOf formats the serial from its DER bytes (big.Int would lose a leading 00).
func serialOf(cert *x509.Certificate) string {
	b := cert.SerialNumber.Bytes()
	if cert.SerialNumber.Sign() < 0 {
		return "-" + serialHex(append([]byte{0}, b...))
	}
	return serialHex(b)
}

// LoadCertificates reads PEM (one or more CERTIFICATE blocks) or DER, e.g.
// the delegation CA file. Errors are ErrCertInvalid.
func LoadCertificates(data []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, &Error{Code: ErrCertInvalid, Message: "not a PEM or DER certificate: " + err.Error(), Cause: err}
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, &Error{Code: ErrCertInvalid, Message: fmt.Sprintf("certificate #%d cannot be parsed: %v", len(out)+1, err), Cause: err}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, newError(ErrCertInvalid, "no CERTIFICATE block found")
	}
	return out, nil
}
