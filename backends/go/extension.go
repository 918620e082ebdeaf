package countersign

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"time"
)

// DefaultExtensionOID is the delegation extension's OID (docs/delegation.md);
// the proxy's delegation.extensionOid and Options.ExtensionOID must agree.
const DefaultExtensionOID = "1.2.840.113556.1.8000.2554.52765.56834.36689.18876.35599.6052605.1115151.1"

// ExtensionVersion is the newest version of the extension this package
// reads (it reads 1 too: a v1 extension says nothing of NamesVouched, which is
// then false).
const ExtensionVersion = 2

// Delegation is the decoded extension: what the proxy says about the original
// client certificate. Byte slices alias the certificate they were read from.
type Delegation struct {
	Version    int
	CertSHA256 []byte // SHA-256 of the original certificate's DER
	SPKISHA256 []byte // SHA-256 of its SubjectPublicKeyInfo: the identity
	CertSHA1   []byte // SHA-1 of the original certificate's DER
	Subject    []byte // DER Name, verbatim
	Issuer     []byte // DER Name, verbatim
	Serial     []byte // INTEGER content bytes, verbatim
	NotAfter   time.Time
	// NamesVouched: a client CA the proxy trusts vouched for Subject and the
	// original's subjectAltNames (v2). False for v1, and for a client that
	// connected in clientAuth mode any with a certificate no configured CA
	// issued: never authorize by those names then.
	NamesVouched bool
	// Certificate is the whole original certificate (DER) when the proxy embeds it.
	Certificate []byte
}

func malformed(format string, a ...interface{}) *Error {
	return newError(ErrDelegationExtensionMalformed, "delegation extension: "+fmt.Sprintf(format, a...))
}

var generalizedTimeRE = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$`)

func decodeGeneralizedTime(body []byte) (time.Time, error) {
	m := generalizedTimeRE.FindStringSubmatch(string(body))
	if m == nil {
		return time.Time{}, derFail("malformed time %q", body)
	}
	n := make([]int, 7)
	for i := 1; i <= 6; i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	t := time.Date(n[1], time.Month(n[2]), n[3], n[4], n[5], n[6], 0, time.UTC)
	// time.Date normalises month 13 or hour 24; a time that does not read back as written is invalid
	if t.Year() != n[1] || int(t.Month()) != n[2] || t.Day() != n[3] || t.Hour() != n[4] || t.Minute() != n[5] || t.Second() != n[6] {
		return time.Time{}, derFail("invalid time %q", body)
	}
	return t, nil
}

// DecodeExtension decodes the extension's extnValue strictly: DER only,
// version first (a version other than 1 or 2 is ErrDelegationExtensionVersion,
// whatever follows); v1: 8 fields, or 9 with the certificate; v2: namesVouched
// (a DER BOOLEAN) after notAfter, so 9 or 10; the documented types and sizes.
func DecodeExtension(der []byte) (*Delegation, error) {
	root, err := readRoot(der, tagSequence)
	if err != nil {
		return nil, malformed("%v", err)
	}
	f, err := readChildren(der, root)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if len(f) == 0 {
		return nil, malformed("empty SEQUENCE")
	}
	if err := expectTag(f[0], tagInteger, "version"); err != nil {
		return nil, malformed("%v", err)
	}
	v := f[0].bytes(der)
	if len(v) == 0 {
		return nil, malformed("empty version")
	}
	if len(v) > 1 && ((v[0] == 0 && v[1]&0x80 == 0) || (v[0] == 0xff && v[1]&0x80 != 0)) {
		return nil, malformed("version is not a minimally encoded INTEGER")
	}
	if len(v) != 1 || (v[0] != 1 && v[0] != 2) {
		n := new(big.Int).SetBytes(v)
		if v[0]&0x80 != 0 {
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(v)*8)))
		}
		return nil, newError(ErrDelegationExtensionVersion, fmt.Sprintf("delegation extension: version %s is not supported (this library reads versions 1 and %d); upgrade the countersign backend library", n, ExtensionVersion))
	}
	version := int(v[0])
	fixed := 8
	if version == 2 {
		fixed = 9
	}
	if len(f) != fixed && len(f) != fixed+1 {
		return nil, malformed("version %d has %d or %d fields, found %d", version, fixed, fixed+1, len(f))
	}
	digest := func(i, n int, what string) ([]byte, error) {
		if err := expectTag(f[i], tagOctetString, what); err != nil {
			return nil, malformed("%v", err)
		}
		b := f[i].bytes(der)
		if len(b) != n {
			return nil, malformed("%s must be %d bytes, found %d", what, n, len(b))
		}
		return b, nil
	}
	name := func(i int, what string) ([]byte, error) {
		if err := expectTag(f[i], tagSequence, what); err != nil {
			return nil, malformed("%v", err)
		}
		if _, err := readChildren(der, f[i]); err != nil {
			return nil, malformed("%v", err)
		}
		return f[i].raw(der), nil
	}
	d := &Delegation{Version: version}
	if d.CertSHA256, err = digest(1, 32, "certSha256"); err != nil {
		return nil, err
	}
	if d.SPKISHA256, err = digest(2, 32, "spkiSha256"); err != nil {
		return nil, err
	}
	if d.CertSHA1, err = digest(3, 20, "certSha1"); err != nil {
		return nil, err
	}
	if d.Subject, err = name(4, "subject"); err != nil {
		return nil, err
	}
	if d.Issuer, err = name(5, "issuer"); err != nil {
		return nil, err
	}
	if err := expectTag(f[6], tagInteger, "serialNumber"); err != nil {
		return nil, malformed("%v", err)
	}
	if d.Serial = f[6].bytes(der); len(d.Serial) == 0 {
		return nil, malformed("empty serialNumber")
	}
	if err := expectTag(f[7], tagGeneralizedTime, "notAfter"); err != nil {
		return nil, malformed("%v", err)
	}
	if d.NotAfter, err = decodeGeneralizedTime(f[7].bytes(der)); err != nil {
		return nil, malformed("notAfter: %v", err)
	}
	if version == 2 {
		if err := expectTag(f[8], tagBoolean, "namesVouched"); err != nil {
			return nil, malformed("%v", err)
		}
		b := f[8].bytes(der)
		if len(b) != 1 || (b[0] != 0x00 && b[0] != 0xff) {
			return nil, malformed("namesVouched is not a DER BOOLEAN (one byte, 00 or FF)")
		}
		d.NamesVouched = b[0] == 0xff
	}
	if len(f) == fixed+1 {
		if err := expectTag(f[fixed], 0x80, "certificate"); err != nil {
			return nil, malformed("%v", err)
		}
		d.Certificate = f[fixed].bytes(der)
	}
	return d, nil
}
