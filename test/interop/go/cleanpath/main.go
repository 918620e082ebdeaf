// What a Go net/http server (KES, etcd's gateway, most Go services) routes
// on for a request target: url.ParseRequestURI as the server parses the
// request line, then ServeMux's cleanPath of the decoded URL.Path. Reads one
// target per line (hex of its bytes), writes one path per line (hex of its bytes), or ERR when
// the server would refuse the target. Used by
// test/interop/request-target-routes-as-a-go-backend-sees-it.test.ts.
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
)

// cleanPath is net/http's (server.go), which ServeMux matches patterns on.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		raw, err := hex.DecodeString(in.Text())
		target := string(raw)
		if err == nil {
			var u *url.URL
			if u, err = url.ParseRequestURI(target); err == nil {
				fmt.Fprintln(out, hex.EncodeToString([]byte(cleanPath(u.Path))))
			}
		}
		if err != nil {
			fmt.Fprintln(out, "ERR")
		}
		out.Flush()
	}
}
