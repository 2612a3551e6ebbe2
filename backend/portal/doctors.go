package portal

import (
	"context"
	"sort"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
)

// NewDoctor creates a doctor's account and profile.
type NewDoctor struct {
	Email           string   `json:"email"`
	Password        string   `json:"password"`
	Name            string   `json:"name"`
	Specialization  string   `json:"specialization"`
	Qualifications  []string `json:"qualifications,omitempty"`
	LicenseNumber   string   `json:"license_number,omitempty"`
	YearsExperience int      `json:"years_experience,omitempty"`
}

// CreateDoctor stores the account and the profile in one transaction.
func (s *Service) CreateDoctor(ctx context.Context, in NewDoctor) (*domain.Doctor, error) {
	spec, err := text("specialization", in.Specialization, 100, true, false)
	if err != nil {
		return nil, err
	}
	if len(in.Qualifications) > 20 {
		return nil, domain.Invalid("qualifications", "List at most 20 qualifications.")
	}
	quals := make([]string, 0, len(in.Qualifications))
	for i, q := range in.Qualifications {
		v, err := text(fieldAt("qualifications", i, "value"), q, 200, true, false)
		if err != nil {
			return nil, err
		}
		quals = append(quals, v)
	}
	license, err := text("license_number", in.LicenseNumber, 64, false, false)
	if err != nil {
		return nil, err
	}
	if in.YearsExperience < 0 || in.YearsExperience > 80 {
		return nil, domain.Invalid("years_experience", "Years of experience must be between 0 and 80.")
	}
	account, err := s.accounts.PrepareAccount(ctx, auth.NewAccount{Email: in.Email, Password: in.Password, Name: in.Name, Role: domain.RoleDoctor})
	if err != nil {
		return nil, err
	}
	now := s.now()
	d := &domain.Doctor{Specialization: spec, Qualifications: quals, LicenseNumber: license, YearsExperience: in.YearsExperience, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateDoctor(ctx, d, account); err != nil {
		return nil, err
	}
	return d, s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "doctor", ResourceID: d.ID, Detail: "account=" + d.UserID})
}

// Doctor returns a doctor profile.
func (s *Service) Doctor(ctx context.Context, id string) (*domain.Doctor, error) {
	return s.store.DoctorByID(ctx, id)
}

// DoctorOfUser is the profile of a doctor's account.
func (s *Service) DoctorOfUser(ctx context.Context, userID string) (*domain.Doctor, error) {
	return s.store.DoctorByUserID(ctx, userID)
}

// ListDoctors lists active doctors, optionally of one specialization.
func (s *Service) ListDoctors(ctx context.Context, specialization string) ([]*domain.Doctor, error) {
	return s.store.ListDoctors(ctx, specialization)
}

// Availability defaults.
const (
	defaultSlotMinutes = 30
	defaultHorizonDays = 90
)

// SetAvailability validates and stores a doctor's bookable hours.
func (s *Service) SetAvailability(ctx context.Context, doctorID string, a domain.Availability) (*domain.Availability, error) {
	if _, err := s.store.DoctorByID(ctx, doctorID); err != nil {
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
	if _, err := s.store.DoctorByID(ctx, doctorID); err != nil {
		return nil, err
	}
	return s.store.Availability(ctx, doctorID)
}

func validateAvailability(a *domain.Availability) error {
	if a.TimeZone == "" {
		return domain.Invalid("time_zone", "Give the doctor's time zone, such as Europe/Berlin or America/New_York.")
	}
	if _, err := time.LoadLocation(a.TimeZone); err != nil || a.TimeZone == "Local" {
		return domain.Invalid("time_zone", "%q is not a known time zone; use an IANA name such as Europe/Berlin.", a.TimeZone)
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
