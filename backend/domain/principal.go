package domain

import "context"

// Principal is who is calling: resolved from an access token or API key on
// every request. Role comes from the account, not the token, so a role change
// or a disabled account takes effect at once.
type Principal struct {
	UserID    string
	Email     string
	Name      string
	Role      Role
	SessionID string // empty for API keys and the command line
	APIKeyID  string
	// MFAPending is set when the role requires two-factor authentication and
	// the account has not enrolled yet: only enrolment and sign-out are open.
	MFAPending bool
	// Account is the account as loaded when the caller was authenticated.
	Account *User
}

// System is the principal for work the server does by itself (CLI, jobs).
var System = &Principal{UserID: "system", Role: RoleAdmin, Name: "HealthHub"}

// RequestMeta is what the audit log records about where a request came from.
type RequestMeta struct {
	RequestID string
	SourceIP  string
	UserAgent string
}

type principalKey struct{}
type metaKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller in ctx, or nil for an anonymous request.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// WithRequestMeta returns ctx carrying m.
func WithRequestMeta(ctx context.Context, m RequestMeta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// RequestMetaFrom returns the request metadata in ctx (zero when none).
func RequestMetaFrom(ctx context.Context) RequestMeta {
	m, _ := ctx.Value(metaKey{}).(RequestMeta)
	return m
}
