// A countersign-aware Go HTTPS backend: it trusts the delegation CA (and,
// with --allow-direct, the client CA), unwraps the original client from the
// minted certificate, and applies a KES-style policy.
//
//	go run ./example --cert backend.crt --key backend.key \
//	  --ca delegation-ca.crt --delegation-ca delegation-ca.crt \
//	  --policy app --allow '/v1/key/*/*' --identity "$(countersign identity of alice.crt)"
//
// Every allowed request is answered with the identity as JSON. It prints
// "listening <port>" once it accepts connections.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	countersign "github.com/countersign/countersign/backends/go"
)

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "example: %s\nusage: example --cert F --key F --ca F [--ca F] --delegation-ca F [--allow-direct] [--listen 127.0.0.1:0]\n  [--policy NAME [--allow PATTERN]... [--deny PATTERN]... [--identity HEX]...]...\n", msg)
	os.Exit(2)
}

func main() {
	var certFile, keyFile, listen = "", "", "127.0.0.1:0"
	var caFiles, delegationFiles []string
	allowDirect := false
	policies := countersign.PolicyEngineOptions{Policies: map[string]countersign.PolicyDefinition{}}
	current := ""
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		flag := args[i]
		if flag == "--allow-direct" {
			allowDirect = true
			continue
		}
		if i+1 >= len(args) {
			usage(flag + " needs a value")
		}
		val := args[i+1]
		i++
		p := policies.Policies[current]
		switch flag {
		case "--cert":
			certFile = val
		case "--key":
			keyFile = val
		case "--ca":
			caFiles = append(caFiles, val)
		case "--delegation-ca":
			delegationFiles = append(delegationFiles, val)
		case "--listen":
			listen = val
		case "--policy":
			current = val
			policies.Policies[current] = countersign.PolicyDefinition{}
		case "--allow", "--deny", "--identity":
			if current == "" {
				usage(flag + " must follow --policy NAME")
			}
			switch flag {
			case "--allow":
				p.Allow = append(p.Allow, val)
			case "--deny":
				p.Deny = append(p.Deny, val)
			default:
				p.Identities = append(p.Identities, val)
			}
			policies.Policies[current] = p
		default:
			usage("unknown flag " + flag)
		}
	}
	if certFile == "" || keyFile == "" || len(caFiles) == 0 {
		usage("--cert, --key and --ca are required")
	}
	pool := x509.NewCertPool()
	for _, f := range caFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(b) {
			log.Fatalf("%s: no certificate", f)
		}
	}
	var cas []*x509.Certificate
	for _, f := range delegationFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		cs, err := countersign.LoadCertificates(b)
		if err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		cas = append(cas, cs...)
	}
	identifier, err := countersign.NewIdentifier(countersign.Options{DelegationCAs: cas, AllowDirect: allowDirect})
	if err != nil {
		log.Fatal(err)
	}
	guard := countersign.Guard{
		Identifier: identifier,
		OnRefused: func(e countersign.RefusalEvent) {
			log.Printf("refused status=%d code=%s reason=%q method=%s path=%s identity=%s", e.Status, e.Code, e.Reason, e.Method, e.Path, e.Identity)
		},
	}
	if len(policies.Policies) > 0 {
		if guard.Policy, err = countersign.NewPolicyEngine(policies); err != nil {
			log.Fatal(err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
		ConnContext: countersign.ConnContext,
		Handler: countersign.Middleware(guard)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := countersign.FromContext(r.Context())
			proxy := ""
			if id.Proxy != nil {
				proxy = id.Proxy.Identity
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{
				"via": string(id.Via), "identity": id.Identity, "subject": id.Subject, "issuer": id.Issuer,
				"namesVouched": fmt.Sprint(id.NamesVouched), "certSha256": id.CertSHA256, "policy": id.Policy, "proxy": proxy, "path": r.URL.Path,
			})
		})),
		ErrorLog: log.New(os.Stderr, "", log.LstdFlags),
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	log.Fatal(srv.ServeTLS(ln, "", ""))
}
