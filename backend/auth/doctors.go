package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // every IANA zone is known, whatever the OS ships
	"unicode"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// DoctorProfile is what an account with the doctor role needs to be booked:
// patients choose doctors by specialization, and the doctor's hours are in
// their time zone. Every way of making a doctor (a new account, a role
// change, completing an account made without one) goes through makeDoctor,
// which stores it with the account in one transaction.
type DoctorProfile struct {
	Specialization string `json:"specialization,omitempty"`
	// TimeZone is an IANA name such as Europe/Berlin; empty means the
	// clinic's time zone.
	TimeZone        string   `json:"time_zone,omitempty"`
	Qualifications  []string `json:"qualifications,omitempty"`
	LicenseNumber   string   `json:"license_number,omitempty"`
	YearsExperience int      `json:"years_experience,omitempty"`
}

// First hours of a new doctor: none yet, in their time zone, so the hours
// page starts from the right zone and booking rules.
const (
	firstSlotMinutes = 30
	firstHorizonDays = 90
)

// makeDoctor validates the profile and stores it, the account u (created
// when it has no ID, updated otherwise) and the doctor's first, empty hours
// in one transaction, then records the audit events.
func (s *Service) makeDoctor(ctx context.Context, u *domain.User, p DoctorProfile) (*domain.Doctor, error) {
	d, zone, err := s.checkDoctorProfile(ctx, p)
	if err != nil {
		return nil, err
	}
	isNew := u.ID == ""
	now := s.now()
	d.CreatedAt, d.UpdatedAt = now, now
	hours := &domain.Availability{TimeZone: zone, SlotMinutes: firstSlotMinutes, HorizonDays: firstHorizonDays,
		Weekly: []domain.WeeklyHours{}, Exceptions: []domain.DayException{}, UpdatedAt: now}
	if err := s.store.CreateDoctor(ctx, d, u, hours); err != nil {
		return nil, err
	}
	if isNew {
		if err := s.record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "user", ResourceID: u.ID, Detail: "role=" + string(u.Role)}); err != nil {
			return nil, err
		}
	}
	return d, s.record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "doctor", ResourceID: d.ID, Detail: "account=" + u.ID})
}

// CreateDoctor creates a doctor's account together with its profile.
func (s *Service) CreateDoctor(ctx context.Context, in NewAccount) (*domain.User, *domain.Doctor, error) {
	in.Role = domain.RoleDoctor
	u, err := s.validate(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.makeDoctor(ctx, u, in.DoctorProfile)
	if err != nil {
		return nil, nil, err
	}
	return u, d, nil
}

// CompleteDoctorProfile gives a doctor account made without a profile the
// profile it lacks, so that it can be booked.
func (s *Service) CompleteDoctorProfile(ctx context.Context, userID string, p DoctorProfile) (*domain.Doctor, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.canCompleteDoctor(ctx, u); err != nil {
		return nil, err
	}
	u.UpdatedAt = s.now()
	return s.makeDoctor(ctx, u, p)
}

// DoctorAccountByEmail finds the account of an e-mail address that may be
// given a doctor profile: a doctor account without one. It answers not
// found when no account has the address, and a conflict a person can act
// on when the account already has a profile or has another role.
func (s *Service) DoctorAccountByEmail(ctx context.Context, email string) (*domain.User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByEmail(ctx, e)
	if err != nil {
		return nil, err
	}
	return u, s.canCompleteDoctor(ctx, u)
}

func (s *Service) canCompleteDoctor(ctx context.Context, u *domain.User) error {
	if u.Role != domain.RoleDoctor {
		return domain.Errorf(domain.ECONFLICT, "%s already has a %s account; to make it a doctor, change its role to doctor on the Users page.", u.Email, u.Role)
	}
	_, err := s.store.DoctorByUserID(ctx, u.ID)
	switch {
	case err == nil:
		return domain.Errorf(domain.ECONFLICT, "%s is already a doctor with a profile; change its hours on the doctor's Hours page.", u.Email)
	case domain.IsCode(err, domain.ENOTFOUND):
		return nil
	default:
		return err
	}
}

// DoctorsWithoutProfile returns the ids of those of users that have the
// doctor role but no doctor profile, so they cannot be booked yet.
func (s *Service) DoctorsWithoutProfile(ctx context.Context, users []*domain.User) ([]string, error) {
	out := []string{}
	for _, u := range users {
		if u.Role != domain.RoleDoctor {
			continue
		}
		_, err := s.store.DoctorByUserID(ctx, u.ID)
		if domain.IsCode(err, domain.ENOTFOUND) {
			out = append(out, u.ID)
		} else if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkDoctorProfile validates a profile and returns the doctor it
// describes and the time zone of their hours.
func (s *Service) checkDoctorProfile(ctx context.Context, p DoctorProfile) (*domain.Doctor, string, error) {
	spec, err := profileText("specialization", p.Specialization, 100, true)
	if err != nil {
		return nil, "", err
	}
	if len(p.Qualifications) > 20 {
		return nil, "", domain.Invalid("qualifications", "List at most 20 qualifications.")
	}
	quals := make([]string, 0, len(p.Qualifications))
	for i, q := range p.Qualifications {
		v, err := profileText(fmt.Sprintf("qualifications[%d]", i), q, 200, true)
		if err != nil {
			return nil, "", err
		}
		quals = append(quals, v)
	}
	license, err := profileText("license_number", p.LicenseNumber, 64, false)
	if err != nil {
		return nil, "", err
	}
	if p.YearsExperience < 0 || p.YearsExperience > 80 {
		return nil, "", domain.Invalid("years_experience", "Years of experience must be between 0 and 80.")
	}
	zone := strings.TrimSpace(p.TimeZone)
	if zone == "" {
		set, err := s.settings.get(ctx)
		if err != nil {
			return nil, "", err
		}
		zone = set.TimeZone
	}
	if err := CheckTimeZone("time_zone", zone); err != nil {
		return nil, "", err
	}
	return &domain.Doctor{Specialization: spec, Qualifications: quals, LicenseNumber: license, YearsExperience: p.YearsExperience}, zone, nil
}

// CheckTimeZone refuses a time zone that is not an IANA name.
func CheckTimeZone(field, zone string) error {
	if zone == "" {
		return domain.Invalid(field, "Choose a time zone, such as Europe/Berlin or America/New_York.")
	}
	if _, err := time.LoadLocation(zone); err != nil || zone == "Local" || len(zone) > 64 {
		return domain.Invalid(field, "%q is not a known time zone; choose an IANA name such as Europe/Berlin.", truncate(zone, 64))
	}
	return nil
}

// profileText checks one line of profile text and returns it trimmed.
func profileText(field, v string, max int, required bool) (string, error) {
	v = strings.TrimSpace(v)
	what := strings.ReplaceAll(field, "_", " ")
	switch {
	case v == "" && required:
		return "", domain.Invalid(field, "Enter the %s.", what)
	case !utf8.ValidString(v):
		return "", domain.Invalid(field, "The %s contains characters that are not valid text.", what)
	case utf8.RuneCountInString(v) > max:
		return "", domain.Invalid(field, "The %s may be at most %d characters.", what, max)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "", domain.Invalid(field, "The %s may not contain control characters.", what)
	}
	return v, nil
}
