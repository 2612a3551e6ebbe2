package portal

import (
	"context"
	"github.com/healthhub/healthhub/backend/policy"
	"sort"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
)

// NewDoctor creates a doctor's account and profile, or the profile of an
// existing doctor account that has none (then the password is not used).
type NewDoctor struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	// The profile (see auth.DoctorProfile).
	Specialization  string   `json:"specialization"`
	TimeZone        string   `json:"time_zone,omitempty"`
	Qualifications  []string `json:"qualifications,omitempty"`
	LicenseNumber   string   `json:"license_number,omitempty"`
	YearsExperience int      `json:"years_experience,omitempty"`
}

func (in NewDoctor) profile() auth.DoctorProfile {
	return auth.DoctorProfile{Specialization: in.Specialization, TimeZone: in.TimeZone, Qualifications: in.Qualifications,
		LicenseNumber: in.LicenseNumber, YearsExperience: in.YearsExperience}
}

// CreateDoctor makes a bookable doctor: a new account with its profile, or,
// for the e-mail of a doctor account made without a profile, that profile.
// An e-mail with a profile already, or of another role, is a conflict that
// says what to do instead.
func (s *Service) CreateDoctor(ctx context.Context, in NewDoctor) (*domain.Doctor, error) {
	if err := s.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Doctor}); err != nil {
		return nil, err
	}
	existing, err := s.accounts.DoctorAccountByEmail(ctx, in.Email)
	switch {
	case err == nil:
		return s.accounts.CompleteDoctorProfile(ctx, existing.ID, in.profile())
	case !domain.IsCode(err, domain.ENOTFOUND):
		return nil, err
	}
	_, d, err := s.accounts.CreateDoctor(ctx, auth.NewAccount{Email: in.Email, Password: in.Password, Name: in.Name, Role: domain.RoleDoctor, DoctorProfile: in.profile()})
	return d, err
}

// Doctor returns a doctor profile.
func (s *Service) Doctor(ctx context.Context, id string) (*domain.Doctor, error) {
	if err := s.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Doctor, ID: id}); err != nil {
		return nil, err
	}
	return s.store.DoctorByID(ctx, id)
}

// DoctorOfUser is the profile of a doctor's account.
func (s *Service) DoctorOfUser(ctx context.Context, userID string) (*domain.Doctor, error) {
	return s.store.DoctorByUserID(ctx, userID)
}

// ListDoctors lists active doctors, optionally of one specialization.
func (s *Service) ListDoctors(ctx context.Context, specialization string) ([]*domain.Doctor, error) {
	if err := s.Authorize(ctx, policy.List, policy.Resource{Type: policy.Doctor}); err != nil {
		return nil, err
	}
	ds, err := s.store.ListDoctors(ctx, specialization)
	if ds == nil {
		ds = []*domain.Doctor{}
	}
	return ds, err
}

// Availability defaults.
const (
	defaultSlotMinutes = 30
	defaultHorizonDays = 90
)

// SetAvailability validates and stores a doctor's bookable hours.
func (s *Service) SetAvailability(ctx context.Context, doctorID string, a domain.Availability) (*domain.Availability, error) {
	d, err := s.store.DoctorByID(ctx, doctorID)
	if err != nil {
		return nil, err
	}
	if err := s.Authorize(ctx, policy.Update, policy.Resource{Type: policy.Schedule, ID: d.ID, DoctorUserID: d.UserID}); err != nil {
		return nil, err
	}
	if err := validateAvailability(&a); err != nil {
		return nil, err
	}
	a.DoctorID, a.UpdatedAt = doctorID, s.now()
	if err := s.store.PutAvailability(ctx, &a); err != nil {
		return nil, err
	}
	return &a, s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "schedule", ResourceID: doctorID})
}

// Availability returns a doctor's bookable hours.
func (s *Service) Availability(ctx context.Context, doctorID string) (*domain.Availability, error) {
	if err := s.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Schedule, ID: doctorID}); err != nil {
		return nil, err
	}
	if _, err := s.store.DoctorByID(ctx, doctorID); err != nil {
		return nil, err
	}
	return s.store.Availability(ctx, doctorID)
}

func validateAvailability(a *domain.Availability) error {
	if err := auth.CheckTimeZone("time_zone", a.TimeZone); err != nil {
		return err
	}
	if a.SlotMinutes == 0 {
		a.SlotMinutes = defaultSlotMinutes
	}
	if a.SlotMinutes < 5 || a.SlotMinutes > 480 {
		return domain.Invalid("slot_minutes", "Slots must be between 5 and 480 minutes long.")
	}
	if a.BufferMinutes < 0 || a.BufferMinutes > 240 {
		return domain.Invalid("buffer_minutes", "The buffer must be between 0 and 240 minutes.")
	}
	if a.MinNoticeMinutes < 0 || a.MinNoticeMinutes > 60*24*60 {
		return domain.Invalid("min_notice_minutes", "The minimum notice must be between 0 minutes and 60 days.")
	}
	if a.HorizonDays == 0 {
		a.HorizonDays = defaultHorizonDays
	}
	if a.HorizonDays < 1 || a.HorizonDays > 730 {
		return domain.Invalid("horizon_days", "The booking horizon must be between 1 and 730 days.")
	}
	if len(a.Weekly) > 70 || len(a.Exceptions) > 1000 {
		return domain.Invalid("weekly", "Too many entries: at most 70 weekly windows and 1000 exceptions.")
	}
	if a.Weekly == nil {
		a.Weekly = []domain.WeeklyHours{}
	}
	if a.Exceptions == nil {
		a.Exceptions = []domain.DayException{}
	}
	type span struct{ from, to int }
	byDay := map[int][]span{}
	for i, w := range a.Weekly {
		if w.Weekday < 0 || w.Weekday > 6 {
			return domain.Invalid(fieldAt("weekly", i, "weekday"), "Weekday must be 0 (Sunday) to 6 (Saturday).")
		}
		from, err := clock(fieldAt("weekly", i, "start"), w.Start)
		if err != nil {
			return err
		}
		to, err := clock(fieldAt("weekly", i, "end"), w.End)
		if err != nil {
			return err
		}
		if to <= from {
			return domain.Invalid(fieldAt("weekly", i, "end"), "The end of a window must be after its start.")
		}
		for _, o := range byDay[w.Weekday] {
			if from < o.to && o.from < to {
				return domain.Invalid(fieldAt("weekly", i, "start"), "This window overlaps another on the same weekday.")
			}
		}
		byDay[w.Weekday] = append(byDay[w.Weekday], span{from, to})
	}
	for i, e := range a.Exceptions {
		if _, err := civilDate(fieldAt("exceptions", i, "date"), e.Date, true); err != nil {
			return err
		}
		if (e.Start == "") != (e.End == "") {
			return domain.Invalid(fieldAt("exceptions", i, "end"), "Give both start and end, or neither for the whole day.")
		}
		if e.Start == "" && e.Available {
			return domain.Invalid(fieldAt("exceptions", i, "start"), "Extra hours need a start and an end.")
		}
		if e.Start != "" {
			from, err := clock(fieldAt("exceptions", i, "start"), e.Start)
			if err != nil {
				return err
			}
			to, err := clock(fieldAt("exceptions", i, "end"), e.End)
			if err != nil {
				return err
			}
			if to <= from {
				return domain.Invalid(fieldAt("exceptions", i, "end"), "The end must be after the start.")
			}
		}
	}
	sort.Slice(a.Weekly, func(i, j int) bool {
		if a.Weekly[i].Weekday != a.Weekly[j].Weekday {
			return a.Weekly[i].Weekday < a.Weekly[j].Weekday
		}
		return a.Weekly[i].Start < a.Weekly[j].Start
	})
	return nil
}
