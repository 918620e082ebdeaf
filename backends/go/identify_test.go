package countersign

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
)

func delegationCA(t *testing.T) []*x509.Certificate {
	t.Helper()
	cs, err := LoadCertificates([]byte(loadVectors(t).CAs["delegation"]))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestIdentifyRefusesAConnectionWithoutACertificate(t *testing.T) {
	id, err := NewIdentifier(Options{DelegationCAs: delegationCA(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := id.Identify(nil); CodeOf(err) != ErrNoPeerCertificate {
		t.Fatalf("nil state: %v", err)
	}
	if _, err := id.Identify(&tls.ConnectionState{}); CodeOf(err) != ErrNoPeerCertificate {
		t.Fatalf("no certificate: %v", err)
	}
}

func TestIdentifyRefusesACertificateTLSDidNotVerify(t *testing.T) {
	v := loadVectors(t)
	id, _ := NewIdentifier(Options{DelegationCAs: delegationCA(t)})
	var minted *x509.Certificate
	for _, c := range v.Certificates {
		if c.Name == "delegated-alice" {
			cs, _ := LoadCertificates([]byte(c.Cert))
			minted = cs[0]
		}
	}
	// tls.RequireAnyClientCert: a certificate, but no verified chain
	_, err := id.Identify(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{minted}})
	if CodeOf(err) != ErrPeerUnauthorized {
		t.Fatalf("want ERR_PEER_UNAUTHORIZED, got %v", err)
	}
	got, err := id.Identify(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{minted}, VerifiedChains: [][]*x509.Certificate{{minted}}})
	if err != nil || got.Via != ViaDelegated {
		t.Fatalf("verified: %v %+v", err, got)
	}
}

func TestErrorsMatchByCode(t *testing.T) {
	err := error(newError(ErrDirectNotAllowed, "x"))
	if !errors.Is(err, &Error{Code: ErrDirectNotAllowed}) || errors.Is(err, &Error{Code: ErrCertExpired}) {
		t.Fatal("errors.Is should match by code")
	}
}

func TestABadExtensionOIDIsAConfigurationError(t *testing.T) {
	if _, err := NewIdentifier(Options{DelegationCAs: delegationCA(t), ExtensionOID: "1.2.x"}); CodeOf(err) != ErrConfigInvalid {
		t.Fatalf("got %v", err)
	}
}

func TestPolicyConfigurationErrors(t *testing.T) {
	a := "aa" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	cases := map[string]PolicyEngineOptions{
		"bad pattern":      {Policies: map[string]PolicyDefinition{"p": {Allow: []string{"/v1/[a-"}}}},
		"relative pattern": {Policies: map[string]PolicyDefinition{"p": {Allow: []string{"v1/*"}}}},
		"empty pattern":    {Policies: map[string]PolicyDefinition{"p": {Deny: []string{""}}}},
		"bad identity":     {Policies: map[string]PolicyDefinition{"p": {Identities: []string{"alice"}}}},
		"two policies":     {Policies: map[string]PolicyDefinition{"p": {Identities: []string{a}}, "q": {Identities: []string{a}}}},
		"disabled":         {Policies: map[string]PolicyDefinition{"p": {Identities: []string{a}}}, Disabled: []string{a}},
	}
	for name, opts := range cases {
		if _, err := NewPolicyEngine(opts); CodeOf(err) != ErrPolicyInvalid {
			t.Errorf("%s: want ERR_POLICY_INVALID, got %v", name, err)
		}
	}
}
