package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// client calls one server's API as one signed-in person.
type client struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client // nil: http.DefaultClient
}

func (c *client) do(method, path string, in, out any) int {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	if res.StatusCode >= 300 && out == nil {
		c.t.Logf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode
}

// eventually polls cond until it holds; the deadline is generous, for a
// busy machine, and only a failure waits for it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for wait := 10 * time.Millisecond; !cond(); wait = min(2*wait, 500*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen in 90 s", what)
		}
		time.Sleep(wait)
	}
}

// faultProxy is a TCP proxy between a node and its upstream that can cut
// the network.
type faultProxy struct {
	t     *testing.T
	proxy *toxiproxy.Proxy
}

func newFaultProxy(t *testing.T, name, upstreamURL string) *faultProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", strings.TrimPrefix(upstreamURL, "http://"))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &faultProxy{t: t, proxy: p}
}

func (f *faultProxy) URL() string { return "http://" + f.proxy.Listen }

// partition refuses every connection and cuts the open ones.
func (f *faultProxy) partition() { f.proxy.Stop() }

func (f *faultProxy) heal() {
	f.t.Helper()
	if err := f.proxy.Start(); err != nil {
		f.t.Fatal(err)
	}
}

// toxic adds a fault (toxiproxy's JSON form) until removed.
func (f *faultProxy) toxic(spec string) {
	f.t.Helper()
	if _, err := f.proxy.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *faultProxy) remove(name string) {
	f.t.Helper()
	if err := f.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		f.t.Fatal(err)
	}
}

type appt struct {
	ID           string `json:"id"`
	DoctorID     string `json:"doctor_id"`
	PatientID    string `json:"patient_id"`
	Start        string `json:"start"`
	End          string `json:"end"`
	Status       string `json:"status"`
	CancelReason string `json:"cancel_reason"`
}

type syncStatus struct {
	State         string `json:"state"`
	Queued        int    `json:"queued"`
	OpenConflicts int    `json:"open_conflicts"`
	AuditLocal    int64  `json:"audit_local"`
	AuditShipped  int64  `json:"audit_shipped"`
	LastError     string `json:"last_error"`
}

// TestNodesBookOfflineAndConvergeAfterFaults runs an upstream healthhubd
// and two workstation nodes (SQLite) as real processes, each node behind a
// fault-injecting proxy. Both front desks book the same slot while cut
// off; once the network heals, the first to reach the upstream keeps it,
// the other booking becomes a conflict that both front desks see, no
// doctor is double-booked anywhere, every node equals the upstream, and
// each node's audit log reaches the upstream whole.
func TestNodesBookOfflineAndConvergeAfterFaults(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run("upstream-"+eng.Name, func(t *testing.T) {
			dbURL, dataDir := eng.URL(t)
			doctorID, patientID := seedClinic(t, dataDir, dbURL, "clinic.example", "")
			d, p := &domain.Doctor{ID: doctorID}, &domain.Patient{ID: patientID}
			_, upURL := startChild(t, map[string]string{"HEALTHHUB_DATA_DIR": dataDir, "HEALTHHUB_DATABASE_URL": dbURL, "HEALTHHUB_ARGON2_MEMORY_KIB": "64",
				"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_LOG_LEVEL": "warn"})
			upAdmin := &client{t: t, base: upURL, token: httpLogin(t, upURL, "admin@clinic.example")}
			upDesk := &client{t: t, base: upURL, token: httpLogin(t, upURL, "desk@clinic.example")}

			// Two workstations, each with its own front desk account,
			// enrolled by the upstream admin's one-time codes.
			type node struct {
				name  string
				proxy *faultProxy
				desk  *client
				admin *client
			}
			var nodes []*node
			for _, nm := range []string{"ws-a", "ws-b"} {
				var code struct {
					Code string `json:"code"`
				}
				if st := upAdmin.do("POST", "/api/v1/sync/enrollments", map[string]any{"name": nm}, &code); st != 201 {
					t.Fatalf("enrolment code: %d", st)
				}
				proxy := newFaultProxy(t, nm, upURL)
				vars := testEnv(t, "")
				vars["HEALTHHUB_SYNC_INTERVAL"] = "200ms"
				if out, err := run(t, vars, "correct horse battery", "user", "create", "--email", "desk@"+nm+".example", "--role", "staff", "--password-stdin"); err != nil {
					t.Fatalf("node account: %v %s", err, out)
				}
				if out, err := run(t, vars, "correct horse battery", "user", "create", "--email", "admin@"+nm+".example", "--role", "admin", "--password-stdin"); err != nil {
					t.Fatalf("node account: %v %s", err, out)
				}
				if out, err := run(t, vars, "", "sync", "enroll", "--upstream", proxy.URL(), "--code", code.Code, "--name", nm); err != nil {
					t.Fatalf("enrol %s: %v %s", nm, err, out)
				}
				_, url := startChild(t, vars)
				nodes = append(nodes, &node{name: nm, proxy: proxy, desk: &client{t: t, base: url, token: httpLogin(t, url, "desk@"+nm+".example")},
					admin: &client{t: t, base: url, token: httpLogin(t, url, "admin@"+nm+".example")}})
			}
			a, b := nodes[0], nodes[1]

			// The doctor, their hours and the patient reach the nodes.
			for _, n := range nodes {
				eventually(t, n.name+" pulls the patient", func() bool {
					return n.desk.do("GET", "/api/v1/patients/"+p.ID, nil, &struct{}{}) == 200
				})
				eventually(t, n.name+" pulls the doctor's hours", func() bool {
					var slots struct {
						Slots []any `json:"slots"`
					}
					from := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Hour)
					st := n.desk.do("GET", fmt.Sprintf("/api/v1/doctors/%s/slots?from=%s&to=%s", d.ID, from.Format(time.RFC3339), from.Add(4*time.Hour).Format(time.RFC3339)), nil, &slots)
					return st == 200 && len(slots.Slots) > 0
				})
			}

			// Cut both off; both front desks book the same slot, and A
			// another one too.
			a.proxy.partition()
			b.proxy.partition()
			slot := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Hour)
			book := func(n *node, start time.Time) appt {
				var out appt
				body := map[string]any{"doctor_id": d.ID, "patient_id": p.ID, "start": start.Format(time.RFC3339), "end": start.Add(30 * time.Minute).Format(time.RFC3339), "reason": "check-up"}
				if st := n.desk.do("POST", "/api/v1/appointments", body, &out); st != 201 {
					t.Fatalf("%s books offline: %d", n.name, st)
				}
				if out.Status != domain.StatusPending {
					t.Fatalf("%s's offline booking is %q, want pending", n.name, out.Status)
				}
				return out
			}
			aFirst := book(a, slot)
			aSecond := book(a, slot.Add(time.Hour))
			bSame := book(b, slot)
			var st syncStatus
			if a.desk.do("GET", "/api/v1/sync/status", nil, &st); st.Queued != 2 {
				t.Fatalf("node A's queue while cut off: %+v", st)
			}
			eventually(t, "node A notices it is offline", func() bool {
				a.desk.do("GET", "/api/v1/sync/status", nil, &st)
				return st.State == "offline"
			})

			// A's push is cut in the middle of its body once, then heals.
			a.proxy.toxic(`{"name":"cut","type":"limit_data","stream":"upstream","attributes":{"bytes":300}}`)
			a.proxy.heal()
			eventually(t, "A's cut push fails", func() bool {
				a.desk.do("GET", "/api/v1/sync/status", nil, &st)
				// Not refused any more: the connection is made and cut.
				return st.State == "offline" && st.Queued == 2 && strings.Contains(st.LastError, "unreachable") &&
					!strings.Contains(st.LastError, "refused")
			})
			a.proxy.remove("cut")
			status := func(c *client, id string) appt {
				var x appt
				if st := c.do("GET", "/api/v1/appointments/"+id, nil, &x); st != 200 {
					t.Fatalf("appointment %s: %d", id, st)
				}
				return x
			}
			eventually(t, "A's bookings are confirmed", func() bool {
				return status(a.desk, aFirst.ID).Status == domain.StatusBooked && status(a.desk, aSecond.ID).Status == domain.StatusBooked
			})

			// B comes back: its booking of the same slot lost.
			b.proxy.heal()
			eventually(t, "B's booking becomes a conflict", func() bool {
				return status(b.desk, bSame.ID).Status == domain.StatusCancelled
			})
			type conflicts struct {
				Conflicts []struct {
					AppointmentID string `json:"appointment_id"`
					Reason        string `json:"reason"`
					WinnerID      string `json:"winner_id"`
				} `json:"conflicts"`
			}
			for _, n := range nodes {
				eventually(t, n.name+" lists the conflict to rebook", func() bool {
					var c conflicts
					n.desk.do("GET", "/api/v1/sync/conflicts", nil, &c)
					return len(c.Conflicts) == 1 && c.Conflicts[0].AppointmentID == bSame.ID && c.Conflicts[0].WinnerID == aFirst.ID &&
						strings.Contains(c.Conflicts[0].Reason, "Another booking took this time")
				})
			}

			// Every node equals the upstream, and nowhere is the doctor
			// booked twice at once.
			list := func(c *client) map[string]appt {
				var out struct {
					Appointments []appt `json:"appointments"`
				}
				if st := c.do("GET", "/api/v1/appointments?doctor_id="+d.ID, nil, &out); st != 200 {
					t.Fatalf("list: %d", st)
				}
				m := map[string]appt{}
				for _, x := range out.Appointments {
					m[x.ID] = x
				}
				return m
			}
			want := list(upDesk)
			if len(want) != 3 || want[aFirst.ID].Status != domain.StatusBooked || want[bSame.ID].Status != domain.StatusCancelled {
				t.Fatalf("upstream holds %+v", want)
			}
			for _, n := range nodes {
				eventually(t, n.name+" equals the upstream", func() bool {
					got := list(n.desk)
					if len(got) != len(want) {
						return false
					}
					for id, w := range want {
						g := got[id]
						if g.Status != w.Status || g.Start != w.Start || g.End != w.End {
							return false
						}
					}
					return true
				})
				var booked []appt
				for _, x := range list(n.desk) {
					if x.Status == domain.StatusBooked {
						booked = append(booked, x)
					}
				}
				for i := range booked {
					for j := range i {
						if booked[i].Start < booked[j].End && booked[j].Start < booked[i].End {
							t.Fatalf("%s: %s and %s overlap", n.name, booked[i].ID, booked[j].ID)
						}
					}
				}
			}

			// Each node's audit log reaches the upstream whole, and the
			// upstream's own chain is intact.
			for _, n := range nodes {
				eventually(t, n.name+" ships its audit log", func() bool {
					var st syncStatus
					n.admin.do("GET", "/api/v1/sync/status", nil, &st)
					var nodesList struct {
						Nodes []struct {
							Name      string `json:"name"`
							AuditSize int64  `json:"audit_size"`
						} `json:"nodes"`
					}
					upAdmin.do("GET", "/api/v1/sync/nodes", nil, &nodesList)
					for _, x := range nodesList.Nodes {
						if x.Name == n.name {
							// The node's own log grows as people use it;
							// what was shipped is what the upstream holds.
							return st.Queued == 0 && st.AuditShipped == x.AuditSize && x.AuditSize >= 5
						}
					}
					return false
				})
			}
			// A slot lease: A borrows a block of the doctor's time while
			// online. Cut off again, A's booking inside it is confirmed at
			// once; B, which has pulled the lease, and the upstream's own
			// front desk are refused there; A's booking reaches the
			// upstream unchanged.
			block := slot.Add(4 * time.Hour)
			var lease struct {
				ID     string `json:"id"`
				NodeID string `json:"node_id"`
			}
			if st := a.admin.do("POST", "/api/v1/sync/node/leases", map[string]any{"doctor_id": d.ID, "start": block.Format(time.RFC3339),
				"end": block.Add(2 * time.Hour).Format(time.RFC3339)}, &lease); st != 201 || lease.NodeID != "" {
				t.Fatalf("lease: %d %+v", st, lease)
			}
			eventually(t, "B learns of A's lease", func() bool {
				var l struct {
					Leases []struct {
						ID     string `json:"id"`
						NodeID string `json:"node_id"`
					} `json:"leases"`
				}
				b.desk.do("GET", "/api/v1/sync/node/leases", nil, &l)
				return len(l.Leases) == 1 && l.Leases[0].ID == lease.ID && l.Leases[0].NodeID != ""
			})
			a.proxy.partition()
			b.proxy.partition()
			var inLease appt
			body := map[string]any{"doctor_id": d.ID, "patient_id": p.ID, "start": block.Format(time.RFC3339), "end": block.Add(30 * time.Minute).Format(time.RFC3339)}
			if st := a.desk.do("POST", "/api/v1/appointments", body, &inLease); st != 201 || inLease.Status != domain.StatusBooked {
				t.Fatalf("A books inside its lease while offline: %d %q, want 201 booked", st, inLease.Status)
			}
			if st := b.desk.do("POST", "/api/v1/appointments", body, nil); st != 409 {
				t.Fatalf("B books inside A's lease: %d, want 409", st)
			}
			body["start"], body["end"] = block.Add(time.Hour).Format(time.RFC3339), block.Add(90*time.Minute).Format(time.RFC3339)
			if st := upDesk.do("POST", "/api/v1/appointments", body, nil); st != 409 {
				t.Fatalf("the upstream's front desk books inside A's lease: %d, want 409", st)
			}
			a.proxy.heal()
			b.proxy.heal()
			eventually(t, "A's leased booking reaches the upstream", func() bool {
				var x appt
				return upDesk.do("GET", "/api/v1/appointments/"+inLease.ID, nil, &x) == 200 && x.Status == domain.StatusBooked
			})
			eventually(t, "and B", func() bool {
				var x appt
				return b.desk.do("GET", "/api/v1/appointments/"+inLease.ID, nil, &x) == 200 && x.Status == domain.StatusBooked
			})

			var verify map[string]any
			if upAdmin.do("GET", "/api/v1/audit/verify", nil, &verify); verify["ok"] != true {
				t.Fatalf("the upstream's audit chain does not verify: %v", verify)
			}
		})
	}
}

// seedClinic prepares an upstream's store as its command line would, before
// the server starts: an admin and a front desk (admin@ and desk@ the
// domain), a doctor open every day all day and a patient with the given
// national id (or none). It returns the doctor's and the patient's ids.
func seedClinic(t *testing.T, dataDir, dbURL, domainName, nationalID string) (doctorID, patientID string) {
	t.Helper()
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	sys, err := server.Open(ctx, server.Config{DataDir: dataDir, DatabaseURL: dbURL, KeyringFile: filepath.Join(dataDir, "keyring.json"),
		Argon2Memory: 64, LoginPerIP: -1, LoginPerAccount: -1, IdleTimeout: time.Hour, LogFormat: "text", LogLevel: "error"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	for _, a := range []struct {
		email string
		role  domain.Role
	}{{"admin@" + domainName, domain.RoleAdmin}, {"desk@" + domainName, domain.RoleStaff}} {
		if _, err := sys.Auth.CreateUser(ctx, newAccount(a.email, a.role)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := sys.Portal.CreateDoctor(ctx, portal.NewDoctor{Email: "dr@" + domainName, Password: "correct horse battery", Name: "Dr Sync", Specialization: "GP"})
	if err != nil {
		t.Fatal(err)
	}
	var weekly []domain.WeeklyHours
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:59"})
	}
	if _, err := sys.Portal.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 60, Weekly: weekly}); err != nil {
		t.Fatal(err)
	}
	in := portal.PatientInput{Name: new(string), DateOfBirth: new(string)}
	*in.Name, *in.DateOfBirth = "Pat Sync", "1980-01-01"
	if nationalID != "" {
		in.NationalID = &nationalID
	}
	p, err := sys.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: in}, false)
	if err != nil {
		t.Fatal(err)
	}
	return d.ID, p.ID
}
