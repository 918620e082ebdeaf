package countersign

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// A KES-style policy engine: each policy is a set of allow and deny patterns
// over request paths (Go's path.Match, as KES uses: `*` stays within a
// segment); a request is allowed when no deny pattern matches and some allow
// pattern does (deny wins; an empty policy allows nothing). An identity
// belongs to at most one policy. A pattern may start with a method
// ("POST /v1/key/create/*"). Malformed patterns fail NewPolicyEngine rather
// than silently never matching.

// PolicyDefinition is one named policy.
type PolicyDefinition struct {
	Allow      []string `json:"allow,omitempty"`
	Deny       []string `json:"deny,omitempty"`
	Identities []string `json:"identities,omitempty"` // hex SHA-256 of the SPKI
}

// PolicyEngineOptions configure a PolicyEngine.
type PolicyEngineOptions struct {
	Policies map[string]PolicyDefinition `json:"policies"`
	// Disabled identities may never act, whatever they are assigned to.
	Disabled []string `json:"disabled,omitempty"`
}

// Denial reasons (for the log; the client always sees ClientDenialMessage).
const (
	ReasonProhibited      = "prohibited by policy"
	ReasonUnknownIdentity = "unknown identity"
	ReasonDisabled        = "identity disabled"
)

// ClientDenialMessage is the only denial text a client sees.
const ClientDenialMessage = "prohibited by policy"

// Decision is the outcome of Authorize.
type Decision struct {
	Allowed bool
	Policy  string // the identity's policy, when it has one
	Reason  string // when refused: one of the Reason constants
}

type rule struct{ method, pattern string }

type compiledPolicy struct{ allow, deny []rule }

// PolicyEngine decides requests. Safe for concurrent Authorize calls; Assign
// is for set-up time.
type PolicyEngine struct {
	policies    map[string]*compiledPolicy
	assignments map[string]string
	disabled    map[string]bool
}

var identityRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
var methodRE = regexp.MustCompile(`^([A-Z]+) +(\S.*)$`)

func normalizeIdentity(identity, where string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(identity))
	if !identityRE.MatchString(id) {
		return "", newError(ErrPolicyInvalid, fmt.Sprintf("%s: %q is not an identity (64 hex digits: the SHA-256 of the certificate's public key, as `countersign identity of` prints)", where, identity))
	}
	return id, nil
}

// ValidatePattern reports ErrPolicyInvalid where path.Match would return ErrBadPattern.
func ValidatePattern(pattern string) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return newError(ErrPolicyInvalid, fmt.Sprintf("pattern %q: %v (syntax of Go's path.Match: * ? [a-z] [^a-z] \\c)", pattern, err))
	}
	return nil
}

func compileRule(policy, list, pattern string) (rule, error) {
	if pattern == "" {
		return rule{}, newError(ErrPolicyInvalid, fmt.Sprintf("policy %q.%s: every pattern must be a non-empty string", policy, list))
	}
	r := rule{pattern: pattern}
	if m := methodRE.FindStringSubmatch(pattern); m != nil {
		r.method, r.pattern = m[1], m[2]
	}
	if !strings.HasPrefix(r.pattern, "/") {
		return rule{}, newError(ErrPolicyInvalid, fmt.Sprintf("policy %q.%s: pattern %q must start with \"/\" (optionally after a method, e.g. \"GET /v1/status\")", policy, list, pattern))
	}
	if err := ValidatePattern(r.pattern); err != nil {
		return rule{}, &Error{Code: ErrPolicyInvalid, Message: fmt.Sprintf("policy %q.%s: %s", policy, list, err.(*Error).Message), Cause: err}
	}
	return r, nil
}

// NewPolicyEngine compiles the policies and assigns their identities.
func NewPolicyEngine(opts PolicyEngineOptions) (*PolicyEngine, error) {
	e := &PolicyEngine{policies: map[string]*compiledPolicy{}, assignments: map[string]string{}, disabled: map[string]bool{}}
	for i, d := range opts.Disabled {
		id, err := normalizeIdentity(d, fmt.Sprintf("disabled[%d]", i))
		if err != nil {
			return nil, err
		}
		e.disabled[id] = true
	}
	names := make([]string, 0, len(opts.Policies))
	for name := range opts.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		def := opts.Policies[name]
		p := &compiledPolicy{}
		for _, s := range def.Allow {
			r, err := compileRule(name, "allow", s)
			if err != nil {
				return nil, err
			}
			p.allow = append(p.allow, r)
		}
		for _, s := range def.Deny {
			r, err := compileRule(name, "deny", s)
			if err != nil {
				return nil, err
			}
			p.deny = append(p.deny, r)
		}
		e.policies[name] = p
	}
	for _, name := range names {
		for _, id := range opts.Policies[name].Identities {
			if err := e.Assign(id, name); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// Assign gives an identity its policy; a second assignment is an error.
func (e *PolicyEngine) Assign(identity, policy string) error {
	id, err := normalizeIdentity(identity, fmt.Sprintf("policy %q identity", policy))
	if err != nil {
		return err
	}
	if _, ok := e.policies[policy]; !ok {
		return newError(ErrPolicyInvalid, fmt.Sprintf("cannot assign %s to policy %q: no such policy", id, policy))
	}
	if e.disabled[id] {
		return newError(ErrPolicyInvalid, fmt.Sprintf("cannot assign %s to policy %q: the identity is disabled", id, policy))
	}
	if cur, ok := e.assignments[id]; ok {
		return newError(ErrPolicyInvalid, fmt.Sprintf("identity %s is already assigned to policy %q; an identity has at most one policy — remove it from one of them", id, cur))
	}
	e.assignments[id] = policy
	return nil
}

// PolicyOf returns the policy an identity is assigned to.
func (e *PolicyEngine) PolicyOf(identity string) (string, bool) {
	p, ok := e.assignments[strings.ToLower(identity)]
	return p, ok
}

func matches(rules []rule, method, p string) bool {
	for _, r := range rules {
		if r.method != "" && r.method != method {
			continue
		}
		if ok, _ := path.Match(r.pattern, p); ok { // patterns were validated: no error here
			return true
		}
	}
	return false
}

// Authorize decides one request; p is the URL path, percent-decoded (r.URL.Path).
func (e *PolicyEngine) Authorize(identity, method, p string) Decision {
	id := strings.ToLower(identity)
	if e.disabled[id] {
		return Decision{Reason: ReasonDisabled}
	}
	name, ok := e.assignments[id]
	if !ok {
		return Decision{Reason: ReasonUnknownIdentity}
	}
	pol := e.policies[name]
	m := strings.ToUpper(method)
	if matches(pol.deny, m, p) || !matches(pol.allow, m, p) {
		return Decision{Policy: name, Reason: ReasonProhibited}
	}
	return Decision{Allowed: true, Policy: name}
}
