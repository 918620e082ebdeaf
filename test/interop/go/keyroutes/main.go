// A Go net/http backend with KES's shape of API: a delete handler under
// /v1/key/delete/ and everything else under /v1/. It trusts only the
// delegation CA and answers which handler ran, for which client (the CN of
// the minted certificate) and on which path. Started by
// test/interop/encoded-paths-never-walk-around-a-route-to-a-go-backend.test.ts.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	// args: cert key delegation-ca.crt
	caPEM, err := os.ReadFile(os.Args[3])
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		panic("no CA certificate in " + os.Args[3])
	}
	pair, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
	if err != nil {
		panic(err)
	}
	answer := func(handler string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			cn := ""
			if len(r.TLS.PeerCertificates) > 0 {
				cn = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			fmt.Printf("handled %s %s %s\n", handler, cn, r.URL.Path)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"handler": handler, "cn": cn, "path": r.URL.Path, "rawPath": r.URL.RawPath, "requestURI": r.RequestURI})
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/key/delete/", answer("delete"))
	mux.HandleFunc("/v1/", answer("other"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{
		Handler:   mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13},
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	panic(srv.ServeTLS(ln, "", ""))
}
