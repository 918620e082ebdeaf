// A Go HTTPS backend, as KES or any Go service would be: it trusts only the
// delegation CA, and unwraps the delegation extension to find the real client.
// Built and run by test/interop/go-backend-delegated.test.ts.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"
)

var delegationOID = asn1.ObjectIdentifier{1, 2, 840, 113556, 1, 8000, 2554, 52765, 56834, 36689, 18876, 35599, 6052605, 1115151, 1}

type Delegation struct {
	Version    int
	CertSHA256 []byte
	SPKISHA256 []byte
	CertSHA1   []byte
	Subject    asn1.RawValue
	Issuer     asn1.RawValue
	Serial     *big.Int
	NotAfter   time.Time `asn1:"generalized"`
	// version 2: a client CA vouched for the names; never authorize by them when false
	NamesVouched bool   `asn1:"optional"`
	Certificate  []byte `asn1:"optional,tag:0"`
}

func Unwrap(peer, delegationCA *x509.Certificate) (*Delegation, error) {
	if err := peer.CheckSignatureFrom(delegationCA); err != nil {
		return nil, fmt.Errorf("not issued by the delegation CA: %w", err)
	}
	if now := time.Now(); now.Before(peer.NotBefore) || now.After(peer.NotAfter) {
		return nil, errors.New("delegated certificate is not valid now")
	}
	for _, ext := range peer.Extensions {
		if !ext.Id.Equal(delegationOID) {
			continue
		}
		var d Delegation
		if rest, err := asn1.Unmarshal(ext.Value, &d); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("malformed delegation extension: %v", err)
		}
		if d.Version != 1 && d.Version != 2 {
			return nil, fmt.Errorf("unknown delegation extension version %d", d.Version)
		}
		return &d, nil
	}
	return nil, errors.New("no delegation extension")
}

func main() {
	// args: cert key delegation-ca.crt
	caPEM, err := os.ReadFile(os.Args[3])
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	pair, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer := r.TLS.PeerCertificates[0]
			d, err := Unwrap(peer, ca)
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, "identity=%s subject=%s proto=%s namesVouched=%t\n", hex.EncodeToString(d.SPKISHA256), peer.Subject.String(), r.Proto, d.NamesVouched)
		}),
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	panic(srv.ServeTLS(ln, "", ""))
}
