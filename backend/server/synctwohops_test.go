package server_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// TestTwoHopsConverge runs the whole shape: a hosted service and a clinic
// server, both on PostgreSQL, the clinic server enrolled with the hosted
// service; a workstation (SQLite) behind the clinic server and another
// enrolled with the hosted service directly. Reference data made at the
// hosted service reaches the far workstation over two hops; a slot booked
// at both workstations while they are cut off goes to the first to reach
// the hosted service; when the clinic server itself is cut off, its
// workstation's booking, confirmed by the clinic server, loses to the one
// that reached the hosted service first, and every installation ends with
// the same appointments, the conflict, and no doctor booked twice.
func TestTwoHopsConverge(t *testing.T) {
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the two-hop test", storetest.EnvPostgresURL)
		}
		t.Skipf("set %s to run a clinic server and a hosted service on PostgreSQL", storetest.EnvPostgresURL)
	}
	// The hosted service, with the clinic's doctor and patient.
	hostedURL, hostedDir := storetest.NewPostgresSchema(t), t.TempDir()
	nid := "AB-123456"
	doctorID, patientID := seedClinic(t, hostedDir, hostedURL, "hosted.example", nid)
	d, p := &domain.Doctor{ID: doctorID}, &domain.Patient{ID: patientID}
	_, hosted := startChild(t, map[string]string{"HEALTHHUB_DATA_DIR": hostedDir, "HEALTHHUB_DATABASE_URL": hostedURL, "HEALTHHUB_ARGON2_MEMORY_KIB": "64",
		"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_LOG_LEVEL": "warn"})
	hostedAdmin := &client{t: t, base: hosted, token: httpLogin(t, hosted, "admin@hosted.example")}

	code := func(admin *client, name string) string {
		var c struct {
			Code string `json:"code"`
		}
		if st := admin.do("POST", "/api/v1/sync/enrollments", map[string]any{"name": name}, &c); st != 201 {
			t.Fatalf("enrolment code at %s: %d", admin.base, st)
		}
		return c.Code
	}
	// install makes an installation with a front desk and an admin,
	// enrolled with upstream through a fault proxy, and starts it.
	type install struct {
		name         string
		proxy        *faultProxy
		desk, admin  *client
		url, dataDir string
	}
	start := func(name, dbURL, upstream, code string) *install {
		in := &install{name: name, proxy: newFaultProxy(t, name, upstream)}
		vars := testEnv(t, dbURL)
		in.dataDir = vars["HEALTHHUB_DATA_DIR"]
		vars["HEALTHHUB_SYNC_INTERVAL"] = "200ms"
		for _, role := range []string{"staff", "admin"} {
			if out, err := run(t, vars, "correct horse battery", "user", "create", "--email", role+"@"+name+".example", "--role", role, "--password-stdin"); err != nil {
				t.Fatalf("%s account: %v %s", name, err, out)
			}
		}
		if out, err := run(t, vars, "", "sync", "enroll", "--upstream", in.proxy.URL(), "--code", code, "--name", name); err != nil {
			t.Fatalf("enrol %s: %v %s", name, err, out)
		}
		_, in.url = startChild(t, vars)
		in.desk = &client{t: t, base: in.url, token: httpLogin(t, in.url, "staff@"+name+".example")}
		in.admin = &client{t: t, base: in.url, token: httpLogin(t, in.url, "admin@"+name+".example")}
		return in
	}
	clinic := start("clinic", storetest.NewPostgresSchema(t), hosted, code(hostedAdmin, "clinic"))
	far := start("ws-far", "", clinic.url, code(clinic.admin, "ws-far"))
	near := start("ws-near", "", hosted, code(hostedAdmin, "ws-near"))
	hostedDesk := &client{t: t, base: hosted, token: httpLogin(t, hosted, "desk@hosted.example")}

	// Reference data: over two hops to the far workstation, with the
	// patient's protected identifier opened and sealed at each.
	for _, in := range []*install{clinic, far, near} {
		eventually(t, in.name+" has the patient and the doctor's hours", func() bool {
			var got struct {
				NationalID string `json:"national_id"`
			}
			var free struct {
				Slots []any `json:"slots"`
			}
			from := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Hour)
			return in.desk.do("GET", "/api/v1/patients/"+p.ID, nil, &got) == 200 && got.NationalID == nid &&
				in.desk.do("GET", fmt.Sprintf("/api/v1/doctors/%s/slots?from=%s&to=%s", d.ID, from.Format(time.RFC3339), from.Add(2*time.Hour).Format(time.RFC3339)), nil, &free) == 200 &&
				len(free.Slots) > 0
		})
	}
	book := func(in *install, at time.Time) appt {
		var out appt
		body := map[string]any{"doctor_id": d.ID, "patient_id": p.ID, "start": at.Format(time.RFC3339), "end": at.Add(30 * time.Minute).Format(time.RFC3339)}
		if st := in.desk.do("POST", "/api/v1/appointments", body, &out); st != 201 || out.Status != domain.StatusPending {
			t.Fatalf("%s books: %d %q", in.name, st, out.Status)
		}
		return out
	}
	status := func(c *client, id string) string {
		var x appt
		if c.do("GET", "/api/v1/appointments/"+id, nil, &x) != 200 {
			return ""
		}
		return x.Status
	}
	everywhere := []*client{hostedDesk, clinic.desk, far.desk, near.desk}
	converge := func(what string) {
		t.Helper()
		list := func(c *client) map[string]apptState {
			var out struct {
				Appointments []appt `json:"appointments"`
			}
			if c.do("GET", "/api/v1/appointments?doctor_id="+d.ID, nil, &out) != 200 {
				return nil
			}
			m := map[string]apptState{}
			for _, a := range out.Appointments {
				m[a.ID] = apptState{a.DoctorID, a.Status, a.Start, a.End}
			}
			return m
		}
		eventually(t, what+": every installation holds the same appointments", func() bool {
			want := list(hostedDesk)
			for _, c := range everywhere[1:] {
				got := list(c)
				if len(got) != len(want) {
					return false
				}
				for id, w := range want {
					if got[id] != w {
						return false
					}
				}
			}
			return true
		})
		for i, c := range everywhere {
			checkNoOverlap(t, fmt.Sprint("installation ", i), list(c))
		}
	}

	// Race 1: both workstations cut off book the same slot; the far one
	// reaches the hosted service first, over two hops.
	slot := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	far.proxy.partition()
	near.proxy.partition()
	farFirst, nearSame := book(far, slot), book(near, slot)
	far.proxy.heal()
	eventually(t, "the far booking is booked at the hosted service", func() bool { return status(hostedDesk, farFirst.ID) == domain.StatusBooked })
	near.proxy.heal()
	eventually(t, "the near booking lost", func() bool { return status(near.desk, nearSame.ID) == domain.StatusCancelled })
	converge("race 1")

	// Race 2: the clinic server is cut off from the hosted service. Its
	// workstation's booking is confirmed by the clinic server, but the near
	// workstation reaches the hosted service first; when the clinic server
	// is back, the far booking is undone everywhere, with a conflict.
	slot2 := slot.Add(2 * time.Hour)
	clinic.proxy.partition()
	farSecond := book(far, slot2)
	eventually(t, "the clinic server confirms the far booking", func() bool { return status(far.desk, farSecond.ID) == domain.StatusBooked })
	nearSecond := book(near, slot2)
	eventually(t, "the near booking is booked at the hosted service", func() bool { return status(hostedDesk, nearSecond.ID) == domain.StatusBooked })
	clinic.proxy.heal()
	eventually(t, "the far booking is undone at the far workstation", func() bool { return status(far.desk, farSecond.ID) == domain.StatusCancelled })
	converge("race 2")
	for _, in := range []*install{clinic, far} {
		eventually(t, in.name+" lists both conflicts", func() bool {
			var c struct {
				Conflicts []struct {
					AppointmentID string `json:"appointment_id"`
				} `json:"conflicts"`
			}
			in.desk.do("GET", "/api/v1/sync/conflicts", nil, &c)
			ids := map[string]bool{}
			for _, x := range c.Conflicts {
				ids[x.AppointmentID] = true
			}
			return ids[nearSame.ID] && ids[farSecond.ID]
		})
	}
}
