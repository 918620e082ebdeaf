package countersign

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"
)

// The shared golden vectors (test/vectors/delegation-vectors.json), generated
// from the TypeScript library: Go must agree with every one.

type expected struct {
	Error         string `json:"error"`
	Via           string `json:"via"`
	Identity      string `json:"identity"`
	CertSHA256    string `json:"certSha256"`
	CertSHA1      string `json:"certSha1"`
	Subject       string `json:"subject"`
	Issuer        string `json:"issuer"`
	NamesVouched  bool   `json:"namesVouched"`
	Serial        string `json:"serial"`
	NotAfter      string `json:"notAfter"`
	ProxyIdentity string `json:"proxyIdentity"`
	Embedded      bool   `json:"embedded"`
}

type vectors struct {
	DefaultExtensionOID string            `json:"defaultExtensionOid"`
	CAs                 map[string]string `json:"cas"`
	Certificates        []struct {
		Name          string   `json:"name"`
		Cert          string   `json:"cert"`
		Chain         []string `json:"chain"`
		DelegationCAs []string `json:"delegationCAs"`
		AllowDirect   bool     `json:"allowDirect"`
		ExtensionOID  string   `json:"extensionOid"`
		Now           string   `json:"now"`
		Expect        expected `json:"expect"`
	} `json:"certificates"`
	Extensions []struct {
		Name   string                 `json:"name"`
		DER    string                 `json:"der"`
		Expect map[string]interface{} `json:"expect"`
	} `json:"extensions"`
	PathMatch []struct {
		Pattern string `json:"pattern"`
		Path    string `json:"path"`
		Expect  struct {
			Match *bool  `json:"match"`
			Error string `json:"error"`
		} `json:"expect"`
	} `json:"pathMatch"`
	Policy struct {
		Definition PolicyEngineOptions `json:"definition"`
		Requests   []struct {
			Identity, Method, Path string
			Expect                 struct {
				Allowed bool   `json:"allowed"`
				Policy  string `json:"policy"`
				Reason  string `json:"reason"`
			} `json:"expect"`
		} `json:"requests"`
	} `json:"policy"`
}

func loadVectors(t *testing.T) *vectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "test", "vectors", "delegation-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func mustCert(t *testing.T, pemText string) []byte {
	t.Helper()
	cs, err := LoadCertificates([]byte(pemText))
	if err != nil {
		t.Fatal(err)
	}
	return cs[0].Raw
}

func TestVectorsDefaultOID(t *testing.T) {
	if v := loadVectors(t); v.DefaultExtensionOID != DefaultExtensionOID {
		t.Fatalf("vectors use %s, the library %s", v.DefaultExtensionOID, DefaultExtensionOID)
	}
}

func TestCertificateVectors(t *testing.T) {
	v := loadVectors(t)
	if len(v.Certificates) < 20 {
		t.Fatalf("only %d certificate vectors", len(v.Certificates))
	}
	for _, c := range v.Certificates {
		c := c
		t.Run(c.Name, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, c.Now)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{AllowDirect: c.AllowDirect, ExtensionOID: c.ExtensionOID, Now: func() time.Time { return now }}
			for _, k := range c.DelegationCAs {
				cs, err := LoadCertificates([]byte(v.CAs[k]))
				if err != nil {
					t.Fatal(err)
				}
				opts.DelegationCAs = append(opts.DelegationCAs, cs...)
			}
			id, err := NewIdentifier(opts)
			var got *Identity
			if err == nil {
				cs, lerr := LoadCertificates([]byte(c.Cert))
				if lerr != nil {
					t.Fatal(lerr)
				}
				var chain []*x509.Certificate
				for _, p := range c.Chain {
					ic, lerr := LoadCertificates([]byte(p))
					if lerr != nil {
						t.Fatal(lerr)
					}
					chain = append(chain, ic...)
				}
				got, err = id.IdentifyCertificate(cs[0], chain...)
			}
			if c.Expect.Error != "" {
				if CodeOf(err) != Code(c.Expect.Error) {
					t.Fatalf("want %s, got %v (%+v)", c.Expect.Error, err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("want %s, got %v", c.Expect.Via, err)
			}
			e := c.Expect
			check := func(what, want, have string) {
				if want != have {
					t.Errorf("%s: want %q, got %q", what, want, have)
				}
			}
			check("via", e.Via, string(got.Via))
			check("identity", e.Identity, got.Identity)
			check("certSha256", e.CertSHA256, got.CertSHA256)
			check("certSha1", e.CertSHA1, got.CertSHA1)
			check("subject", e.Subject, got.Subject)
			check("issuer", e.Issuer, got.Issuer)
			if got.NamesVouched != e.NamesVouched {
				t.Errorf("namesVouched: want %v, got %v", e.NamesVouched, got.NamesVouched)
			}
			check("serial", e.Serial, got.Serial)
			check("notAfter", e.NotAfter, got.NotAfter.UTC().Format("2006-01-02T15:04:05.000Z"))
			proxy := ""
			if got.Proxy != nil {
				proxy = got.Proxy.Identity
			}
			check("proxyIdentity", e.ProxyIdentity, proxy)
			if embedded := got.Via == ViaDelegated && got.Certificate != nil; embedded != e.Embedded {
				t.Errorf("embedded: want %v, got %v", e.Embedded, embedded)
			}
		})
	}
}

func TestExtensionVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Extensions {
		c := c
		t.Run(c.Name, func(t *testing.T) {
			der, _ := hex.DecodeString(c.DER)
			d, err := DecodeExtension(der)
			if want, ok := c.Expect["error"].(string); ok {
				if CodeOf(err) != Code(want) {
					t.Fatalf("want %s, got %v", want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]interface{}{
				"version": float64(d.Version), "certSha256": hex.EncodeToString(d.CertSHA256), "spkiSha256": hex.EncodeToString(d.SPKISHA256),
				"certSha1": hex.EncodeToString(d.CertSHA1), "subject": hex.EncodeToString(d.Subject), "issuer": hex.EncodeToString(d.Issuer),
				"serial": hex.EncodeToString(d.Serial), "notAfter": d.NotAfter.Format("2006-01-02T15:04:05.000Z"),
				"namesVouched": d.NamesVouched,
			}
			if d.Certificate != nil {
				got["certificate"] = hex.EncodeToString(d.Certificate)
			}
			if len(got) != len(c.Expect) {
				t.Fatalf("want %v, got %v", c.Expect, got)
			}
			for k, want := range c.Expect {
				if got[k] != want {
					t.Errorf("%s: want %v, got %v", k, want, got[k])
				}
			}
		})
	}
}

// The TypeScript matcher claims to be Go's path.Match: here the vectors meet the real one.
func TestPathMatchVectorsAgreeWithGo(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.PathMatch {
		ok, err := path.Match(c.Pattern, c.Path)
		verr := ValidatePattern(c.Pattern)
		if c.Expect.Error != "" {
			if err == nil && verr == nil {
				t.Errorf("%q ~ %q: vectors say %s, Go's path.Match accepts the pattern", c.Pattern, c.Path, c.Expect.Error)
			}
			if CodeOf(verr) != ErrPolicyInvalid {
				t.Errorf("%q: ValidatePattern: %v", c.Pattern, verr)
			}
			continue
		}
		if err != nil || verr != nil || c.Expect.Match == nil || ok != *c.Expect.Match {
			t.Errorf("%q ~ %q: vectors say %v, Go's path.Match says %v, %v (validate %v)", c.Pattern, c.Path, c.Expect.Match, ok, err, verr)
		}
	}
}

func TestPolicyVectors(t *testing.T) {
	v := loadVectors(t)
	e, err := NewPolicyEngine(v.Policy.Definition)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Policy.Requests {
		d := e.Authorize(r.Identity, r.Method, r.Path)
		if d.Allowed != r.Expect.Allowed || d.Policy != r.Expect.Policy || d.Reason != r.Expect.Reason {
			t.Errorf("%s %s: want %+v, got %+v", r.Method, r.Path, r.Expect, d)
		}
	}
}
