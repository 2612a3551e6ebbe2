package auth

import (
	"errors"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
)

// Every way of making a doctor gives a doctor with a profile and hours in a
// time zone, so patients can book them.
func TestEveryDoctorHasAProfile(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClinicTimeZone = "Europe/Berlin" })
	admin := domain.WithPrincipal(f.ctx, domain.System)
	profileOf := func(t *testing.T, u *domain.User, zone string) *domain.Doctor {
		t.Helper()
		d, err := f.db.DoctorByUserID(f.ctx, u.ID)
		if err != nil {
			t.Fatalf("%s has no doctor profile: %v", u.Email, err)
		}
		av, err := f.db.Availability(f.ctx, d.ID)
		if err != nil || av.TimeZone != zone {
			t.Fatalf("hours of %s = %+v, %v; want time zone %s", u.Email, av, err, zone)
		}
		return d
	}

	t.Run("new account with the doctor role", func(t *testing.T) {
		u, err := f.svc.CreateUser(admin, NewAccount{Email: "new@example.org", Password: "correct horse battery", Name: "Ada Lovelace",
			Role: domain.RoleDoctor, DoctorProfile: DoctorProfile{Specialization: " Cardiology ", TimeZone: "America/New_York"}})
		if err != nil {
			t.Fatal(err)
		}
		if d := profileOf(t, u, "America/New_York"); d.Specialization != "Cardiology" {
			t.Fatalf("specialization = %q", d.Specialization)
		}
	})
	t.Run("time zone defaults to the clinic's", func(t *testing.T) {
		u, err := f.svc.CreateUser(admin, NewAccount{Email: "local@example.org", Password: "correct horse battery", Name: "Grace Hopper",
			Role: domain.RoleDoctor, DoctorProfile: DoctorProfile{Specialization: "Dermatology"}})
		if err != nil {
			t.Fatal(err)
		}
		profileOf(t, u, "Europe/Berlin")
	})
	t.Run("refused without a specialization or with an unknown zone, and no account is left", func(t *testing.T) {
		for _, p := range []DoctorProfile{{}, {Specialization: "GP", TimeZone: "Mars/Olympus"}, {Specialization: "GP", TimeZone: "Local"}} {
			_, err := f.svc.CreateUser(admin, NewAccount{Email: "half@example.org", Password: "correct horse battery", Name: "Half Made", Role: domain.RoleDoctor, DoctorProfile: p})
			code(t, err, domain.EINVALID)
			if _, err := f.db.UserByEmail(f.ctx, "half@example.org"); !domain.IsCode(err, domain.ENOTFOUND) {
				t.Fatalf("a refused doctor left an account behind: %v", err)
			}
		}
	})
	t.Run("role change to doctor", func(t *testing.T) {
		u := f.user(t, "staff@example.org", domain.RoleStaff)
		doctor := domain.RoleDoctor
		_, err := f.svc.UpdateUser(admin, u.ID, UserPatch{Role: &doctor})
		code(t, err, domain.EINVALID) // the specialization is needed
		if back, _ := f.db.UserByID(f.ctx, u.ID); back.Role != domain.RoleStaff {
			t.Fatalf("a refused role change changed the role to %s", back.Role)
		}
		changed, err := f.svc.UpdateUser(admin, u.ID, UserPatch{Role: &doctor, DoctorProfile: DoctorProfile{Specialization: "Paediatrics", TimeZone: "Asia/Tokyo"}})
		if err != nil || changed.Role != domain.RoleDoctor {
			t.Fatalf("role change = %+v, %v", changed, err)
		}
		d := profileOf(t, u, "Asia/Tokyo")
		// Back to staff and to doctor again: the profile is kept, not made twice.
		staff := domain.RoleStaff
		if _, err := f.svc.UpdateUser(admin, u.ID, UserPatch{Role: &staff}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.UpdateUser(admin, u.ID, UserPatch{Role: &doctor}); err != nil {
			t.Fatal(err)
		}
		if again := profileOf(t, u, "Asia/Tokyo"); again.ID != d.ID {
			t.Fatal("a second profile was made")
		}
	})
	t.Run("a doctor account without a profile is completed", func(t *testing.T) {
		bare, err := f.svc.PrepareAccount(f.ctx, NewAccount{Email: "bare@example.org", Password: "correct horse battery", Name: "Dr. Bare", Role: domain.RoleDoctor})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.db.CreateUser(f.ctx, bare); err != nil { // as made before every doctor got a profile
			t.Fatal(err)
		}
		missing, err := f.svc.DoctorsWithoutProfile(f.ctx, []*domain.User{bare})
		if err != nil || len(missing) != 1 || missing[0] != bare.ID {
			t.Fatalf("doctors without profile = %v, %v", missing, err)
		}
		u, err := f.svc.DoctorAccountByEmail(f.ctx, "BARE@example.org")
		if err != nil || u.ID != bare.ID {
			t.Fatalf("account to complete = %+v, %v", u, err)
		}
		if _, err := f.svc.CompleteDoctorProfile(admin, bare.ID, DoctorProfile{Specialization: "Neurology"}); err != nil {
			t.Fatal(err)
		}
		profileOf(t, bare, "Europe/Berlin")
		_, err = f.svc.CompleteDoctorProfile(admin, bare.ID, DoctorProfile{Specialization: "Neurology"})
		code(t, err, domain.ECONFLICT)
		_, err = f.svc.DoctorAccountByEmail(f.ctx, "bare@example.org")
		if !domain.IsCode(err, domain.ECONFLICT) || domain.ErrorMessage(err) != "bare@example.org is already a doctor with a profile; change its hours on the doctor's Hours page." {
			t.Fatalf("second completion: %v", err)
		}
		f.user(t, "patient@example.org", domain.RolePatient)
		_, err = f.svc.DoctorAccountByEmail(f.ctx, "patient@example.org")
		if !domain.IsCode(err, domain.ECONFLICT) || domain.ErrorMessage(err) != "patient@example.org already has a patient account; to make it a doctor, change its role to doctor on the Users page." {
			t.Fatalf("patient's e-mail: %v", err)
		}
	})
}

func TestClinicTimeZoneSetting(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClinicTimeZone = "Europe/Lisbon" })
	if set, err := f.svc.Settings(f.ctx); err != nil || set.TimeZone != "Europe/Lisbon" {
		t.Fatalf("default = %+v, %v", set, err)
	}
	admin := domain.WithPrincipal(f.ctx, domain.System)
	bad := "Europe/Atlantis"
	_, err := f.svc.UpdateSettings(admin, SettingsPatch{TimeZone: &bad})
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.EINVALID || de.Field != "time_zone" {
		t.Fatalf("unknown zone: %v", err)
	}
	good := "Australia/Sydney"
	if set, err := f.svc.UpdateSettings(admin, SettingsPatch{TimeZone: &good}); err != nil || set.TimeZone != good {
		t.Fatalf("set zone = %+v, %v", set, err)
	}
	if z := LocalTimeZone(func(string) string { return "America/Chicago" }); z != "America/Chicago" {
		t.Fatalf("zone from TZ = %s", z)
	}
	if z := LocalTimeZone(func(string) string { return "Nowhere/Special" }); CheckTimeZone("", z) != nil {
		t.Fatalf("a bad TZ gave %q", z)
	}
}
