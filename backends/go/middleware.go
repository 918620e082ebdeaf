package countersign

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
)

// RefusalEvent describes a refused request, with the reason the client does not see.
type RefusalEvent struct {
	Status   int    // 401 or 403
	Code     Code   // the code sent to the client
	Reason   string // the error message, or the policy's denial reason
	Method   string
	Path     string
	Identity string // set when identification succeeded and the policy refused
	Policy   string
}

// Guard configures Middleware.
type Guard struct {
	Identifier *Identifier
	// Policy, when set, must allow every request (403 otherwise).
	Policy *PolicyEngine
	// OnRefused is called for every refused request (log it). Optional.
	OnRefused func(RefusalEvent)
}

type ctxKey int

const (
	identityKey ctxKey = iota
	memoKey
)

type connMemo struct {
	once sync.Once
	id   *Identity
	err  error
}

// ConnContext, set as http.Server.ConnContext, lets Middleware identify each
// connection once instead of on every request: the peer certificate of a
// connection cannot change.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, memoKey, &connMemo{})
}

// FromContext returns the identity Middleware attached to the request.
func FromContext(ctx context.Context) (*Identity, bool) {
	r, ok := ctx.Value(identityKey).(*Identity)
	return r, ok
}

func writeJSON(w http.ResponseWriter, status int, code Code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": string(code), "message": message})
}

// Middleware identifies every request (and authorizes it, with a Policy),
// answering as the TypeScript middleware does: 401 {"code","message"} when no
// identity can be established, 403 {"code":"ERR_POLICY_DENIED","message":"prohibited by policy"}
// whatever the policy's reason. The handler finds the identity with FromContext.
func Middleware(g Guard) func(http.Handler) http.Handler {
	if g.Identifier == nil {
		panic("countersign.Middleware: Guard.Identifier is required")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var id *Identity
			var err error
			if m, ok := r.Context().Value(memoKey).(*connMemo); ok {
				m.once.Do(func() { m.id, m.err = g.Identifier.Identify(r.TLS) })
				id, err = m.id, m.err
			} else {
				id, err = g.Identifier.Identify(r.TLS)
			}
			if err != nil {
				code := CodeOf(err)
				msg := err.Error()
				if e, ok := err.(*Error); ok {
					msg = e.Message
				}
				if g.OnRefused != nil {
					g.OnRefused(RefusalEvent{Status: http.StatusUnauthorized, Code: code, Reason: msg, Method: r.Method, Path: r.URL.Path})
				}
				writeJSON(w, http.StatusUnauthorized, code, msg)
				return
			}
			ri := *id // a copy: the connection's result is shared by its requests
			if g.Policy != nil {
				d := g.Policy.Authorize(id.Identity, r.Method, r.URL.Path)
				if !d.Allowed {
					if g.OnRefused != nil {
						g.OnRefused(RefusalEvent{Status: http.StatusForbidden, Code: ErrPolicyDenied, Reason: d.Reason, Method: r.Method, Path: r.URL.Path, Identity: id.Identity, Policy: d.Policy})
					}
					writeJSON(w, http.StatusForbidden, ErrPolicyDenied, ClientDenialMessage)
					return
				}
				ri.Policy = d.Policy
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey, &ri)))
		})
	}
}
