package auth

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// NewAccount is what creating an account needs.
type NewAccount struct {
	Email    string      `json:"email"`
	Password string      `json:"password"`
	Name     string      `json:"name"`
	Role     domain.Role `json:"role"`
	// The profile of an account with the doctor role, made with it.
	DoctorProfile
}

// NormalizeEmail validates an e-mail address and returns it lower-cased.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	if e == "" {
		return "", domain.Invalid("email", "Enter an e-mail address.")
	}
	if len(e) > 254 {
		return "", domain.Invalid("email", "The e-mail address is too long.")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", domain.Invalid("email", "%q is not a valid e-mail address; it should look like name@example.org.", truncate(e, 80))
	}
	return strings.ToLower(e), nil
}

// ValidateName checks a person's display name.
func ValidateName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return "", domain.Invalid("name", "Enter a name.")
	}
	if !utf8.ValidString(n) {
		return "", domain.Invalid("name", "The name contains characters that are not valid text.")
	}
	if utf8.RuneCountInString(n) > 200 {
		return "", domain.Invalid("name", "The name may be at most 200 characters.")
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return "", domain.Invalid("name", "The name may not contain control characters.")
		}
	}
	return n, nil
}

// PrepareAccount checks and normalises a new account and hashes its
// password, without storing it: for callers that store the account together
// with something else (a patient record, a doctor profile).
func (s *Service) PrepareAccount(ctx context.Context, in NewAccount) (*domain.User, error) {
	return s.validate(ctx, in)
}

// SelfRegistrationOpen reports whether patients may register themselves.
func (s *Service) SelfRegistrationOpen(ctx context.Context) (bool, error) {
	set, err := s.settings.get(ctx)
	return set.SelfRegistration, err
}

// validate checks and normalises a new account, hashing its password.
func (s *Service) validate(ctx context.Context, in NewAccount) (*domain.User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	name, err := ValidateName(in.Name)
	if err != nil {
		return nil, err
	}
	if !in.Role.Valid() {
		return nil, domain.Invalid("role", "Unknown role %q; roles are patient, doctor, staff and admin.", truncate(string(in.Role), 40))
	}
	if err := CheckPassword(in.Password, email, name); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return &domain.User{Email: email, Name: name, Role: in.Role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}, nil
}

// CreateUser creates an account of any role (admins, and the command line).
// A doctor's account is made with its doctor profile, so it can be booked.
func (s *Service) CreateUser(ctx context.Context, in NewAccount) (*domain.User, error) {
	if err := s.access.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Account}); err != nil {
		return nil, err
	}
	if in.Role == domain.RoleDoctor {
		u, _, err := s.CreateDoctor(ctx, in)
		return u, err
	}
	u, err := s.validate(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, s.record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "user", ResourceID: u.ID, Detail: "role=" + string(u.Role)})
}

// UserPatch changes an account; nil fields are left as they are.
type UserPatch struct {
	Name     *string      `json:"name,omitempty"`
	Role     *domain.Role `json:"role,omitempty"`
	Disabled *bool        `json:"disabled,omitempty"`
	Password *string      `json:"password,omitempty"`
	ResetMFA bool         `json:"reset_mfa,omitempty"`
	Unlock   bool         `json:"unlock,omitempty"`
	// The doctor profile made when the role changes to doctor and the
	// account has none yet.
	DoctorProfile
}

// UpdateUser applies an admin's change to an account. Disabling an account or
// changing its password or role ends its sessions. The last active admin
// cannot be demoted or disabled.
func (s *Service) UpdateUser(ctx context.Context, id string, p UserPatch) (*domain.User, error) {
	if err := s.access.Authorize(ctx, policy.Update, policy.Resource{Type: policy.Account, ID: id, OwnerID: id}); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	endSessions, becomesDoctor := false, false
	var changed []string
	if p.Name != nil {
		if u.Name, err = ValidateName(*p.Name); err != nil {
			return nil, err
		}
		changed = append(changed, "name")
	}
	if p.Role != nil && *p.Role != u.Role {
		if !p.Role.Valid() {
			return nil, domain.Invalid("role", "Unknown role %q; roles are patient, doctor, staff and admin.", truncate(string(*p.Role), 40))
		}
		if err := s.keepAnAdmin(ctx, u); err != nil {
			return nil, err
		}
		u.Role, endSessions, becomesDoctor = *p.Role, true, *p.Role == domain.RoleDoctor
		changed = append(changed, "role")
	}
	if p.Disabled != nil && *p.Disabled != u.Disabled {
		if *p.Disabled {
			if err := s.keepAnAdmin(ctx, u); err != nil {
				return nil, err
			}
			endSessions = true
		}
		u.Disabled = *p.Disabled
		changed = append(changed, "disabled")
	}
	if p.Password != nil {
		if err := CheckPassword(*p.Password, u.Email, u.Name); err != nil {
			return nil, err
		}
		if u.PasswordHash, err = s.hashPassword(ctx, *p.Password); err != nil {
			return nil, err
		}
		endSessions = true
		changed = append(changed, "password")
	}
	if p.ResetMFA {
		u.MFAEnabled, u.MFASecret = false, ""
		endSessions = true
		changed = append(changed, "mfa")
	}
	if p.Unlock {
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
		changed = append(changed, "lock")
	}
	if len(changed) == 0 {
		return nil, domain.Invalid("", "Nothing to change: send at least one of name, role, disabled, password, reset_mfa or unlock.")
	}
	u.UpdatedAt = s.now()
	if err := s.saveUser(ctx, u, becomesDoctor, p.DoctorProfile); err != nil {
		return nil, err
	}
	s.cache.forgetUser(u.ID)
	if endSessions {
		if err := s.store.RevokeUserSessions(ctx, u.ID, s.now()); err != nil {
			return nil, err
		}
	}
	s.forgetUser(ctx, u.ID) // again, here and elsewhere, now the sessions are revoked
	return u, s.record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "user", ResourceID: u.ID, Detail: "changed=" + strings.Join(changed, ",")})
}

// saveUser stores a changed account. An account that becomes a doctor and
// has no doctor profile yet (it never was a doctor) gets one in the same
// transaction.
func (s *Service) saveUser(ctx context.Context, u *domain.User, becomesDoctor bool, profile DoctorProfile) error {
	if becomesDoctor {
		_, err := s.store.DoctorByUserID(ctx, u.ID)
		if domain.IsCode(err, domain.ENOTFOUND) {
			_, err = s.makeDoctor(ctx, u, profile)
			return err
		}
		if err != nil {
			return err
		}
	}
	return s.store.UpdateUser(ctx, u)
}

// keepAnAdmin refuses to take away the last active admin.
func (s *Service) keepAnAdmin(ctx context.Context, u *domain.User) error {
	if u.Role != domain.RoleAdmin || u.Disabled {
		return nil
	}
	admins, err := s.store.ListUsers(ctx, domain.UserFilter{Role: domain.RoleAdmin, Limit: 1000})
	if err != nil {
		return err
	}
	active := 0
	for _, a := range admins {
		if !a.Disabled {
			active++
		}
	}
	if active <= 1 {
		return domain.Errorf(domain.ECONFLICT, "This is the last active admin account; make another admin first.")
	}
	return nil
}

// User returns an account, for the services' own use.
func (s *Service) User(ctx context.Context, id string) (*domain.User, error) {
	return s.store.UserByID(ctx, id)
}

// Account returns an account to the caller, who must be allowed to read it
// (their own, or admins); the read is recorded.
func (s *Service) Account(ctx context.Context, id string) (*domain.User, error) {
	if err := s.access.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Account, ID: id, OwnerID: id}); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return u, s.record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "user", ResourceID: u.ID})
}

// Accounts returns the accounts matching f to the caller, who must be
// allowed to list them (admins); the search is recorded.
func (s *Service) Accounts(ctx context.Context, f domain.UserFilter) ([]*domain.User, error) {
	if err := s.access.Authorize(ctx, policy.List, policy.Resource{Type: policy.Account}); err != nil {
		return nil, err
	}
	users, err := s.ListUsers(ctx, f)
	if err != nil {
		return nil, err
	}
	if users == nil {
		users = []*domain.User{}
	}
	return users, s.record(ctx, audit.Event{Action: domain.ActionSearch, ResourceType: "user", Detail: "results=" + strconv.Itoa(len(users))})
}

// ListUsers returns accounts matching f.
func (s *Service) ListUsers(ctx context.Context, f domain.UserFilter) ([]*domain.User, error) {
	if f.Role != "" && !f.Role.Valid() {
		return nil, domain.Invalid("role", "Unknown role %q; roles are patient, doctor, staff and admin.", truncate(string(f.Role), 40))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.store.ListUsers(ctx, f)
}

// Me returns the caller and the settings their session follows.
func (s *Service) Me(ctx context.Context) (*domain.Principal, Settings, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Self(p, policy.Read); err != nil {
		return nil, Settings{}, err
	}
	set, err := s.settings.get(ctx)
	return p, set, err
}
