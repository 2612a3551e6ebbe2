package upstream_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/healthhub/healthhub/backend/sync/auditship"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// clock is the services' time: the real time moved by an offset a test
// controls (to pass the enrolment codes' lifetime).
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// Fixed ids of the fixtures, so that the fuzz seeds can name them.
const (
	doctorAID = "0d0c0000-0000-4000-8000-00000000000a"
	doctorBID = "0d0c0000-0000-4000-8000-00000000000b"
	doctorCID = "0d0c0000-0000-4000-8000-00000000000c"
	patientID = "0a710000-0000-4000-8000-000000000001"
)

// world is an upstream server's services over one fresh store.
type world struct {
	t        testing.TB
	db       store.DB
	clock    *clock
	audit    *audit.Log
	portal   *portal.Service
	svc      *upstream.Service
	admins   []*domain.User
	staff    *domain.User
	doctors  []*domain.Doctor // A, B, C
	patient  *domain.Patient
	adminCtx context.Context
}

func newWorld(t testing.TB, eng storetest.Engine) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, db: eng.Open(t), clock: &clock{}}
	logger := slog.New(slog.DiscardHandler)
	w.audit = audit.NewLog(w.db, w.clock.now, logger)
	t.Cleanup(w.audit.Close) // before the store closes
	w.portal = portal.New(w.db, nil, secret.NewEphemeral(), w.audit, nil, w.clock.now, logger)
	w.svc = upstream.New(w.db, w.portal, w.audit, w.clock.now, logger)

	now := w.clock.now().UTC()
	user := func(email string, role domain.Role) *domain.User {
		return &domain.User{Email: email, Name: "Name of " + email, Role: role, PasswordHash: "$argon2id$secret-hash", CreatedAt: now, UpdatedAt: now}
	}
	for i := range 2 {
		a := user(fmt.Sprintf("admin%d@example.org", i), domain.RoleAdmin)
		if err := w.db.CreateUser(ctx, a); err != nil {
			t.Fatal(err)
		}
		w.admins = append(w.admins, a)
	}
	w.staff = user("desk@example.org", domain.RoleStaff)
	if err := w.db.CreateUser(ctx, w.staff); err != nil {
		t.Fatal(err)
	}
	w.adminCtx = domain.WithPrincipal(ctx, &domain.Principal{UserID: w.admins[0].ID, Role: domain.RoleAdmin})
	for i, id := range []string{doctorAID, doctorBID, doctorCID} {
		tag := string(rune('a' + i))
		d := &domain.Doctor{ID: id, Specialization: "General practice", Qualifications: []string{"MD"}, LicenseNumber: "L-" + tag,
			YearsExperience: 7, CreatedAt: now, UpdatedAt: now}
		hours := &domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 700,
			Weekly: []domain.WeeklyHours{{Weekday: 1, Start: "08:00", End: "18:00"}}, Exceptions: []domain.DayException{}, UpdatedAt: now}
		if err := w.db.CreateDoctor(ctx, d, user("doc-"+tag+"@example.org", domain.RoleDoctor), hours); err != nil {
			t.Fatal(err)
		}
		w.doctors = append(w.doctors, d)
	}
	// Its identifiers are sealed at rest, as the portal stores them.
	p := &domain.Patient{ID: patientID, Name: "Pat Synced", DateOfBirth: "1980-02-03", InsuranceMemberNumber: "INS-4711", NationalID: "NAT-0815",
		EmergencyContacts: []domain.EmergencyContact{}, CreatedAt: now, UpdatedAt: now}
	sealed, err := w.portal.SealPatient(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.db.CreatePatient(ctx, sealed, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := w.db.PatientByID(ctx, patientID); err != nil || got.InsuranceMemberNumber == p.InsuranceMemberNumber || got.NationalID == p.NationalID {
		t.Fatalf("stored patient %+v, %v: identifiers not sealed", got, err)
	}
	w.patient = p
	return w
}

// node is an enrolled node as the upstream sees it.
type node struct {
	*domain.SyncNode
	cred   string
	signer note.Signer
	ctx    context.Context // the node's principal
}

func keys(t testing.TB, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func (w *world) code(doctorIDs ...string) string {
	w.t.Helper()
	e, err := w.svc.CreateEnrollment(w.adminCtx, upstream.NewEnrollment{Name: "Front desk", DoctorIDs: doctorIDs})
	if err != nil {
		w.t.Fatal(err)
	}
	return e.Code
}

func (w *world) enroll(name string, doctorIDs ...string) *node {
	w.t.Helper()
	signer, vkey := keys(w.t, name)
	got, err := w.svc.Enroll(context.Background(), upstream.EnrollRequest{Code: w.code(doctorIDs...), Name: "Desk " + name, PublicKey: vkey})
	if err != nil {
		w.t.Fatal(err)
	}
	n, p, err := w.svc.Authenticate(context.Background(), got.Credential)
	if err != nil {
		w.t.Fatal(err)
	}
	return &node{SyncNode: n, cred: got.Credential, signer: signer, ctx: domain.WithPrincipal(context.Background(), p)}
}

func (w *world) nodes() []*domain.SyncNode {
	w.t.Helper()
	ns, err := w.db.ListSyncNodes(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return ns
}

// events returns the stored audit events that match, oldest first.
func (w *world) events(match func(e *domain.AuditEvent) bool) []*domain.AuditEvent {
	w.t.Helper()
	all, err := w.db.ListAudit(context.Background(), domain.AuditFilter{Limit: 100000})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*domain.AuditEvent
	for i := len(all) - 1; i >= 0; i-- {
		if match(all[i]) {
			out = append(out, all[i])
		}
	}
	return out
}

func (w *world) appointments() []*domain.Appointment {
	w.t.Helper()
	as, err := w.db.ListAppointments(context.Background(), domain.AppointmentFilter{Limit: 100000})
	if err != nil {
		w.t.Fatal(err)
	}
	return as
}

func (w *world) appointment(id string) *domain.Appointment {
	w.t.Helper()
	a, err := w.db.AppointmentByID(context.Background(), id)
	if err != nil {
		w.t.Fatalf("appointment %s: %v", id, err)
	}
	return a
}

func (w *world) absent(id string) {
	w.t.Helper()
	if a, err := w.db.AppointmentByID(context.Background(), id); domain.ErrorCode(err) != domain.ENOTFOUND {
		w.t.Fatalf("appointment %s stored: %+v, %v", id, a, err)
	}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// day is a Monday far enough ahead for every test's bookings.
var day = time.Date(2030, 5, 6, 0, 0, 0, 0, time.UTC)

func at(hour, minute int) time.Time {
	return day.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
}

// bookOp is a node's booking, pending as a front desk makes it offline.
func bookOp(doctorID, patientID string, start time.Time, minutes int) *domain.SyncOp {
	id := uuid.NewString()
	made := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return &domain.SyncOp{ID: uuid.NewString(), Entity: domain.ChangeEntityAppointment, EntityID: id, Kind: domain.OpBook,
		Appointment: &domain.Appointment{ID: id, DoctorID: doctorID, PatientID: patientID, Start: start, End: start.Add(time.Duration(minutes) * time.Minute),
			Status: domain.StatusPending, Reason: "check-up", CreatedBy: "desk-user", IdempotencyKey: "node-key-" + id, CreatedAt: made, UpdatedAt: made},
		ActorID: "desk-user", ActorRole: string(domain.RoleStaff), CreatedAt: made}
}

// updateOp changes a to what change makes of a copy, from base.
func updateOp(a *domain.Appointment, base string, change func(a *domain.Appointment)) *domain.SyncOp {
	c := *a
	change(&c)
	return &domain.SyncOp{ID: uuid.NewString(), Entity: domain.ChangeEntityAppointment, EntityID: a.ID, Kind: domain.OpUpdate, BaseVersion: base,
		Appointment: &c, ActorID: "desk-user", ActorRole: string(domain.RoleStaff), CreatedAt: time.Now()}
}

func version(a *domain.Appointment) string { return a.UpdatedAt.UTC().Format(domain.AuditTimeFormat) }

func (w *world) apply(n *node, ops ...*domain.SyncOp) []*domain.SyncOpResult {
	w.t.Helper()
	got, err := w.svc.Apply(n.ctx, n.SyncNode, upstream.Push{Ops: ops})
	if err != nil {
		w.t.Fatalf("apply: %v", err)
	}
	if len(got.Results) != len(ops) {
		w.t.Fatalf("%d results for %d ops", len(got.Results), len(ops))
	}
	for i, r := range got.Results {
		if r.OpID != ops[i].ID || r.EntityID != ops[i].EntityID {
			w.t.Fatalf("result %d answers op %s (%s), not %s", i, r.OpID, r.EntityID, ops[i].ID)
		}
	}
	return got.Results
}

// sameResult reports how two answers to one op differ ("" for none).
func sameResult(a, b *domain.SyncOpResult) string {
	switch {
	case a.OpID != b.OpID || a.EntityID != b.EntityID || a.Outcome != b.Outcome || a.Reason != b.Reason || a.Version != b.Version:
		return fmt.Sprintf("%s/%s/%s/%q/%s vs %s/%s/%s/%q/%s", a.OpID, a.EntityID, a.Outcome, a.Reason, a.Version, b.OpID, b.EntityID, b.Outcome, b.Reason, b.Version)
	case !a.At.Equal(b.At):
		return fmt.Sprintf("at %v vs %v", a.At, b.At)
	case (a.Appointment == nil) != (b.Appointment == nil) || (a.Conflict == nil) != (b.Conflict == nil):
		return "appointment or conflict present in one only"
	}
	if x, y := a.Appointment, b.Appointment; x != nil {
		if x.ID != y.ID || x.Status != y.Status || !x.Start.Equal(y.Start) || !x.End.Equal(y.End) || !x.UpdatedAt.Equal(y.UpdatedAt) || x.CancelReason != y.CancelReason {
			return fmt.Sprintf("appointment %+v vs %+v", x, y)
		}
	}
	if x, y := a.Conflict, b.Conflict; x != nil {
		if x.ID != y.ID || x.WinnerID != y.WinnerID || x.AppointmentID != y.AppointmentID || x.Reason != y.Reason {
			return fmt.Sprintf("conflict %+v vs %+v", x, y)
		}
	}
	return ""
}

func TestEnrollment(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, eng)
			ctx := context.Background()
			dA := w.doctors[0].ID
			code := w.code(dA)
			_, vkey := keys(t, "hh-test1")
			refusedFor := func(name string) []*domain.AuditEvent {
				return w.events(func(e *domain.AuditEvent) bool {
					return e.ResourceType == "sync_node" && e.ResourceID == name && e.Outcome == domain.OutcomeDenied &&
						e.Detail == "enrollment_code_invalid" && e.ActorID == "node:"+name && e.ActorRole == string(domain.RoleNode)
				})
			}

			// Keys that are not verifier keys, or badly named, are refused
			// before the code is looked at: it stays good.
			badKey := func(name string) string { _, v := keys(t, name); return v }
			skey, _, _ := note.GenerateKey(rand.Reader, "hh-private")
			for what, key := range map[string]string{
				"not a key":           "not a key",
				"empty":               "",
				"a signer key":        skey,
				"uppercase name":      badKey("HH-Test"),
				"name too short":      badKey("ab"),
				"name too long":       badKey(strings.Repeat("a", 65)),
				"name with a dot":     badKey("hh.test"),
				"name with an umlaut": badKey("hh-tüst"),
			} {
				_, err := w.svc.Enroll(ctx, upstream.EnrollRequest{Code: code, PublicKey: key})
				if domain.ErrorCode(err) != domain.EINVALID {
					t.Errorf("%s: %v, want invalid", what, err)
				}
			}
			if _, err := w.svc.Enroll(ctx, upstream.EnrollRequest{Code: "", PublicKey: vkey}); domain.ErrorCode(err) != domain.EINVALID {
				t.Errorf("no code: %v", err)
			}
			if ns := w.nodes(); len(ns) != 0 {
				t.Fatalf("refused enrolments stored nodes: %+v", ns)
			}

			// The code works once, typed without hyphens in lower case; the
			// node takes the code's doctors.
			got, err := w.svc.Enroll(ctx, upstream.EnrollRequest{Code: strings.ToLower(strings.ReplaceAll(code, "-", "")), Name: "Desk 1", PublicKey: vkey})
			if err != nil {
				t.Fatal(err)
			}
			if got.NodeID != "hh-test1" || !strings.HasPrefix(got.Credential, upstream.CredentialPrefix) || !upstream.IsCredential(got.Credential) {
				t.Fatalf("enrolled %+v", got)
			}
			ns := w.nodes()
			if len(ns) != 1 || ns[0].ID != "hh-test1" || ns[0].Name != "Desk 1" || ns[0].PublicKey != vkey || len(ns[0].DoctorIDs) != 1 ||
				ns[0].DoctorIDs[0] != dA || ns[0].Revoked() || ns[0].CredentialHash == "" || strings.Contains(ns[0].CredentialHash, got.Credential) {
				t.Fatalf("stored nodes: %+v", ns)
			}
			// A 64-character name is allowed.
			long := strings.Repeat("n", 64)
			_, lkey := keys(t, long)
			if _, err := w.svc.Enroll(ctx, upstream.EnrollRequest{Code: w.code(), PublicKey: lkey}); err != nil {
				t.Fatalf("a 64-character name: %v", err)
			}

			// A second use, and a wrong code, are refused as not found,
			// store nothing, and are recorded.
			_, vkey2 := keys(t, "hh-test2")
			_, err = w.svc.Enroll(ctx, upstream.EnrollRequest{Code: code, PublicKey: vkey2})
			wantCode(t, err, domain.ENOTFOUND)
			_, vkey3 := keys(t, "hh-test3")
			_, err = w.svc.Enroll(ctx, upstream.EnrollRequest{Code: "ABCD-EFGH-JKLM-NPQR", PublicKey: vkey3})
			wantCode(t, err, domain.ENOTFOUND)
			if ns := w.nodes(); len(ns) != 2 {
				t.Fatalf("refused enrolments stored nodes: %+v", ns)
			}
			if len(refusedFor("hh-test2")) != 1 || len(refusedFor("hh-test3")) != 1 {
				t.Fatal("a refused enrolment was not recorded as denied")
			}

			// A code is good for 24 hours.
			late, lateButInTime := w.code(), w.code()
			w.clock.advance(upstream.EnrollmentTTL - time.Minute)
			_, vkey4 := keys(t, "hh-test4")
			if _, err := w.svc.Enroll(ctx, upstream.EnrollRequest{Code: lateButInTime, PublicKey: vkey4}); err != nil {
				t.Fatalf("a code a minute before it expires: %v", err)
			}
			w.clock.advance(2 * time.Minute)
			_, vkey5 := keys(t, "hh-test5")
			_, err = w.svc.Enroll(ctx, upstream.EnrollRequest{Code: late, PublicKey: vkey5})
			wantCode(t, err, domain.ENOTFOUND)
			if ns := w.nodes(); len(ns) != 3 {
				t.Fatalf("nodes after an expired code: %+v", ns)
			}
			if len(refusedFor("hh-test5")) != 1 {
				t.Fatal("an expired code's use was not recorded")
			}

			// Only admins make codes; a refusal is recorded.
			staffCtx := domain.WithPrincipal(ctx, &domain.Principal{UserID: w.staff.ID, Role: domain.RoleStaff})
			nodeCtx := domain.WithPrincipal(ctx, &domain.Principal{UserID: "node:hh-test1", Role: domain.RoleNode})
			for _, c := range []context.Context{staffCtx, nodeCtx} {
				_, err := w.svc.CreateEnrollment(c, upstream.NewEnrollment{Name: "sneaky"})
				wantCode(t, err, domain.EFORBIDDEN)
			}
			_, err = w.svc.CreateEnrollment(ctx, upstream.NewEnrollment{Name: "anonymous"})
			if code := domain.ErrorCode(err); code != domain.EUNAUTHORIZED && code != domain.EFORBIDDEN {
				t.Fatalf("an enrolment code without a caller: %v", err)
			}
			for _, who := range []string{w.staff.ID, "node:hh-test1"} {
				if len(w.events(func(e *domain.AuditEvent) bool {
					return e.ActorID == who && e.ResourceType == "sync_node" && e.Action == domain.ActionCreate && e.Outcome == domain.OutcomeDenied
				})) != 1 {
					t.Errorf("the refusal of %s's enrolment code was not recorded", who)
				}
			}
			// An admin's code for a doctor that does not exist is invalid.
			_, err = w.svc.CreateEnrollment(w.adminCtx, upstream.NewEnrollment{DoctorIDs: []string{"no-such-doctor"}})
			wantCode(t, err, domain.EINVALID)
		})
	}
}

func TestAuthenticate(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, eng)
			ctx := context.Background()
			n := w.enroll("hh-test1")
			got, p, err := w.svc.Authenticate(ctx, n.cred)
			if err != nil || got.ID != "hh-test1" || p.Role != domain.RoleNode || p.UserID != "node:hh-test1" {
				t.Fatalf("authenticate: %+v %+v %v", got, p, err)
			}
			for _, cred := range []string{"", upstream.CredentialPrefix + "unknown", n.cred + "x", strings.TrimPrefix(n.cred, upstream.CredentialPrefix)} {
				_, _, err := w.svc.Authenticate(ctx, cred)
				wantCode(t, err, domain.EUNAUTHORIZED)
			}

			// Only an admin revokes.
			staffCtx := domain.WithPrincipal(ctx, &domain.Principal{UserID: w.staff.ID, Role: domain.RoleStaff})
			_, err = w.svc.Revoke(staffCtx, n.ID)
			wantCode(t, err, domain.EFORBIDDEN)
			if _, _, err := w.svc.Authenticate(ctx, n.cred); err != nil {
				t.Fatalf("a refused revocation revoked: %v", err)
			}
			r, err := w.svc.Revoke(w.adminCtx, n.ID)
			if err != nil || !r.Revoked() || r.RevokedBy != w.admins[0].ID {
				t.Fatalf("revoke: %+v, %v", r, err)
			}
			_, err = w.svc.Revoke(w.adminCtx, "no-such-node")
			wantCode(t, err, domain.ENOTFOUND)
			for range 2 {
				_, _, err = w.svc.Authenticate(ctx, n.cred)
				wantCode(t, err, domain.EFORBIDDEN)
			}
			denied := w.events(func(e *domain.AuditEvent) bool {
				return e.Detail == "node_revoked" && e.Outcome == domain.OutcomeDenied && e.ResourceID == n.ID && e.ActorID == "node:"+n.ID
			})
			if len(denied) != 2 {
				t.Fatalf("%d refusals of the revoked node recorded, want 2", len(denied))
			}
		})
	}
}

func TestApplyAndPull(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			testApplyAndPull(t, newWorld(t, eng))
		})
	}
}

func testApplyAndPull(t *testing.T, w *world) {
	ctx := context.Background()
	dA, dB, dC := w.doctors[0].ID, w.doctors[1].ID, w.doctors[2].ID
	pID := w.patient.ID
	n1 := w.enroll("hh-test1", dA, dB) // may not touch doctor C
	n2 := w.enroll("hh-test2")         // all doctors
	opAudit := func(opID string) []*domain.AuditEvent {
		return w.events(func(e *domain.AuditEvent) bool { return strings.Contains(e.Detail, "sync_op="+opID+" ") })
	}

	// A booking is applied: booked at the upstream, its version the
	// stored appointment's.
	op1 := bookOp(dA, pID, at(9, 0), 30)
	r1 := w.apply(n1, op1)[0]
	a1 := w.appointment(op1.EntityID)
	if r1.Outcome != domain.OutcomeApplied || r1.Reason != "" || r1.Appointment == nil || r1.Appointment.Status != domain.StatusBooked {
		t.Fatalf("booking: %+v", r1)
	}
	if a1.Status != domain.StatusBooked || a1.DoctorID != dA || a1.PatientID != pID || !a1.Start.Equal(at(9, 0)) || a1.IdempotencyKey != "" {
		t.Fatalf("stored booking: %+v", a1)
	}
	if r1.Version != version(a1) {
		t.Fatalf("result version %q, stored %q", r1.Version, version(a1))
	}
	if evs := opAudit(op1.ID); len(evs) != 1 || evs[0].PatientID != pID || evs[0].ActorID != "node:hh-test1" || evs[0].Action != domain.ActionCreate ||
		evs[0].Outcome != domain.OutcomeSuccess || evs[0].ResourceID != a1.ID {
		t.Fatalf("audit of the booking: %+v", evs)
	}

	// The same op again gets the same answer and changes nothing, even if
	// its content was changed meanwhile.
	count := len(w.appointments())
	for _, again := range []*domain.SyncOp{op1, updateOp(op1.Appointment, "", func(a *domain.Appointment) { a.Start = at(7, 0); a.End = at(7, 30) })} {
		again.ID, again.Kind = op1.ID, domain.OpBook
		r := w.apply(n1, again)[0]
		if d := sameResult(r, r1); d != "" {
			t.Fatalf("redelivered op answered differently: %s", d)
		}
	}
	if got := w.appointment(a1.ID); len(w.appointments()) != count || !got.UpdatedAt.Equal(a1.UpdatedAt) || !got.Start.Equal(a1.Start) {
		t.Fatalf("a redelivered op changed the store: %+v", got)
	}
	if len(opAudit(op1.ID)) != 1 {
		t.Fatal("a redelivered op was recorded again")
	}
	// Another node cannot use, or read the answer of, this node's op id:
	// its op is answered rejected (its queue goes on), and nothing is
	// stored.
	stolen := bookOp(dA, pID, at(7, 0), 30)
	stolen.ID = op1.ID
	got, err := w.svc.Apply(n2.ctx, n2.SyncNode, upstream.Push{Ops: []*domain.SyncOp{stolen}})
	if err != nil || len(got.Results) != 1 || got.Results[0].Outcome != domain.OutcomeRejected || got.Results[0].Appointment != nil {
		t.Fatalf("an op id of another node: %+v, %v", got, err)
	}
	w.absent(stolen.EntityID)
	if prev, err := w.db.SyncOpResult(context.Background(), op1.ID); err != nil || prev.NodeID != n1.ID || prev.Outcome != domain.OutcomeApplied {
		t.Fatalf("the first node's answer changed: %+v, %v", prev, err)
	}

	// One op delivered at once over several connections is applied once.
	op2 := bookOp(dA, pID, at(10, 0), 30)
	const deliveries = 8
	results := make([]*domain.SyncOpResult, deliveries)
	errs := make([]error, deliveries)
	var wg sync.WaitGroup
	for i := range deliveries {
		wg.Go(func() {
			c := *op2
			a := *op2.Appointment
			c.Appointment = &a
			got, err := w.svc.Apply(n1.ctx, n1.SyncNode, upstream.Push{Ops: []*domain.SyncOp{&c}})
			if err == nil {
				results[i] = got.Results[0]
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		if d := sameResult(results[i], results[0]); d != "" {
			t.Fatalf("delivery %d answered differently: %s", i, d)
		}
	}
	if results[0].Outcome != domain.OutcomeApplied {
		t.Fatalf("the concurrent op: %+v", results[0])
	}
	if got := w.appointments(); len(got) != count+1 {
		t.Fatalf("%d appointments after one op delivered %d times at once, want %d", len(got), deliveries, count+1)
	}
	if a2 := w.appointment(op2.EntityID); version(a2) != results[0].Version {
		t.Fatalf("version %q, stored %q", results[0].Version, version(a2))
	}
	if n := len(opAudit(op2.ID)); n != 1 {
		t.Fatalf("the concurrent op was recorded %d times", n)
	}

	// Ops that cannot be applied are rejected, with a reason, and the ops
	// after them are still applied.
	good1 := bookOp(dA, pID, at(11, 0), 30)
	good2 := bookOp(dB, pID, at(11, 0), 30)
	outOfScope := bookOp(dC, pID, at(12, 0), 30)
	notAppointment := bookOp(dA, pID, at(12, 0), 30)
	notAppointment.Entity = domain.ChangeEntityPatient
	backwards := bookOp(dA, pID, at(12, 0), 30)
	backwards.Appointment.End = backwards.Appointment.Start.Add(-time.Minute)
	empty := bookOp(dA, pID, at(12, 0), 0)
	unknownPatient := bookOp(dA, uuid.NewString(), at(12, 0), 30)
	unknownDoctor := bookOp(dB, pID, at(12, 0), 30)
	unknownDoctor.Appointment.DoctorID, unknownDoctor.Appointment.Status = uuid.NewString(), domain.StatusBooked
	badKind := bookOp(dA, pID, at(12, 0), 30)
	badKind.Kind = "delete"
	badStatus := bookOp(dA, pID, at(12, 0), 30)
	badStatus.Appointment.Status = "maybe"
	otherEntity := bookOp(dA, pID, at(12, 0), 30)
	otherEntity.EntityID = uuid.NewString()
	tooLong := bookOp(dA, pID, at(12, 0), 9*60)
	// In UTC past the years a store or JSON can write; once stored it would
	// break every later read of the feed.
	pastYears := bookOp(dA, pID, time.Date(9999, 12, 31, 22, 0, 0, 0, time.FixedZone("", -5*3600)), 60)
	updateUnknown := updateOp(bookOp(dA, pID, at(12, 0), 30).Appointment, "", func(*domain.Appointment) {})
	updateAfterUnknown := updateOp(a1, "op:"+uuid.NewString(), func(a *domain.Appointment) { a.Reason = "x" })
	rejects := []*domain.SyncOp{outOfScope, notAppointment, backwards, empty, unknownPatient, unknownDoctor, badKind, badStatus, otherEntity,
		tooLong, pastYears, updateUnknown, updateAfterUnknown}
	push := append([]*domain.SyncOp{rejects[0], rejects[1], good1}, rejects[2:]...)
	push = append(push, good2)
	before := len(w.appointments())
	res := w.apply(n1, push...)
	for i, op := range push {
		r := res[i]
		switch op {
		case good1, good2:
			if r.Outcome != domain.OutcomeApplied || w.appointment(op.EntityID).Status != domain.StatusBooked {
				t.Errorf("op %d after rejected ones: %+v", i, r)
			}
		default:
			if r.Outcome != domain.OutcomeRejected || r.Reason == "" || r.Version != "" || r.Conflict != nil {
				t.Errorf("op %d: %+v, want rejected with a reason", i, r)
			}
			if op.Appointment != nil {
				if a, err := w.db.AppointmentByID(ctx, op.Appointment.ID); err == nil && op != updateAfterUnknown {
					t.Errorf("op %d stored %+v", i, a)
				}
			}
			if _, err := w.db.SyncConflictByID(ctx, op.ID); domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Errorf("op %d stored a conflict: %v", i, err)
			}
			// A rejection is an answer too: kept, and given again.
			again := w.apply(n1, op)[0]
			if d := sameResult(again, r); d != "" {
				t.Errorf("op %d answered differently the second time: %s", i, d)
			}
		}
	}
	if got := len(w.appointments()); got != before+2 {
		t.Fatalf("%d appointments after a push with two good ops, want %d", got, before+2)
	}
	if !strings.Contains(res[0].Reason, "doctor") {
		t.Errorf("the out-of-scope op's reason: %q", res[0].Reason)
	}
	if got := w.appointment(a1.ID); !got.UpdatedAt.Equal(a1.UpdatedAt) || got.Reason != a1.Reason {
		t.Fatalf("a rejected update changed the appointment: %+v", got)
	}

	// A malformed push is refused whole: nothing of it is stored.
	before = len(w.appointments())
	_, err = w.svc.Apply(n1.ctx, n1.SyncNode, upstream.Push{})
	wantCode(t, err, domain.EINVALID)
	_, err = w.svc.Apply(n1.ctx, n1.SyncNode, upstream.Push{Ops: []*domain.SyncOp{}})
	wantCode(t, err, domain.EINVALID)
	var many []*domain.SyncOp
	for i := range upstream.MaxOps + 1 {
		many = append(many, bookOp(dA, pID, day.Add(30*24*time.Hour+time.Duration(i)*time.Hour), 30))
	}
	_, err = w.svc.Apply(n1.ctx, n1.SyncNode, upstream.Push{Ops: many})
	wantCode(t, err, domain.EINVALID)
	for _, op := range many {
		w.absent(op.EntityID)
	}
	for _, id := range []string{"", "not-a-uuid", strings.Repeat("g", 36), uuid.NewString() + "0", strings.ReplaceAll(uuid.NewString(), "-", "_")} {
		first, bad := bookOp(dA, pID, at(16, 0), 30), bookOp(dA, pID, at(17, 0), 30)
		bad.ID = id
		_, err := w.svc.Apply(n1.ctx, n1.SyncNode, upstream.Push{Ops: []*domain.SyncOp{first, bad}})
		wantCode(t, err, domain.EINVALID)
		w.absent(first.EntityID)
		w.absent(bad.EntityID)
		if _, err := w.db.SyncOpResult(ctx, first.ID); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Fatalf("the op before one with op id %q was answered and kept: %v", id, err)
		}
	}
	_, err = w.svc.Apply(n1.ctx, n1.SyncNode, upstream.Push{Ops: []*domain.SyncOp{bookOp(dA, pID, at(16, 0), 30), nil}})
	wantCode(t, err, domain.EINVALID)
	if got := len(w.appointments()); got != before {
		t.Fatalf("refused pushes stored appointments: %d, want %d", got, before)
	}

	// Two nodes book the same time: the first keeps it, the second's
	// booking is kept cancelled, with a conflict naming the winner.
	op4 := bookOp(dA, pID, at(14, 0), 30)
	if r := w.apply(n1, op4)[0]; r.Outcome != domain.OutcomeApplied {
		t.Fatalf("first booking of the slot: %+v", r)
	}
	op5 := bookOp(dA, pID, at(14, 15), 30)
	r5 := w.apply(n2, op5)[0]
	if r5.Outcome != domain.OutcomeConflict || r5.Conflict == nil || r5.Conflict.WinnerID != op4.EntityID || r5.Reason == "" {
		t.Fatalf("second booking of the slot: %+v", r5)
	}
	a5 := w.appointment(op5.EntityID)
	if a5.Status != domain.StatusCancelled || a5.CancelReason == "" || r5.Version != version(a5) || r5.Appointment.Status != domain.StatusCancelled {
		t.Fatalf("the losing booking is stored %+v, answered %+v", a5, r5)
	}
	k, err := w.db.SyncConflictByID(ctx, op5.ID)
	if err != nil || k.WinnerID != op4.EntityID || k.AppointmentID != op5.EntityID || k.NodeID != n2.ID || k.DoctorID != dA || k.PatientID != pID ||
		!k.Start.Equal(at(14, 15)) || k.Kind != domain.OpBook {
		t.Fatalf("stored conflict %+v, %v", k, err)
	}
	if w.appointment(op4.EntityID).Status != domain.StatusBooked {
		t.Fatal("the winning booking changed")
	}
	if evs := opAudit(op5.ID); len(evs) != 1 || evs[0].Outcome != domain.OutcomeFailure || evs[0].PatientID != pID {
		t.Fatalf("audit of the lost booking: %+v", evs)
	}
	// A node with all doctors books one outside the first node's scope.
	opC := bookOp(dC, pID, at(9, 0), 30)
	if r := w.apply(n2, opC)[0]; r.Outcome != domain.OutcomeApplied {
		t.Fatalf("booking of doctor C: %+v", r)
	}

	// An update made after the node's own booking, before it heard back,
	// names the booking op; it is applied.
	op6 := updateOp(op1.Appointment, "op:"+op1.ID, func(a *domain.Appointment) {
		a.Start, a.End, a.Reason, a.Status = at(9, 30), at(10, 0), "moved", domain.StatusBooked
	})
	r6 := w.apply(n1, op6)[0]
	a1 = w.appointment(a1.ID)
	if r6.Outcome != domain.OutcomeApplied || !a1.Start.Equal(at(9, 30)) || a1.Reason != "moved" || r6.Version != version(a1) || r6.Version == r1.Version {
		t.Fatalf("update after the booking op: %+v, stored %+v", r6, a1)
	}
	// An update from a version that is not the upstream's any more is a
	// conflict; the appointment stays.
	op7 := updateOp(a1, r1.Version, func(a *domain.Appointment) { a.Start, a.End = at(8, 0), at(8, 30) })
	r7 := w.apply(n1, op7)[0]
	if r7.Outcome != domain.OutcomeConflict || r7.Conflict == nil || r7.Version != version(a1) || r7.Appointment == nil || !r7.Appointment.Start.Equal(at(9, 30)) {
		t.Fatalf("stale update: %+v", r7)
	}
	if got := w.appointment(a1.ID); !got.UpdatedAt.Equal(a1.UpdatedAt) || !got.Start.Equal(at(9, 30)) {
		t.Fatalf("a stale update changed the appointment: %+v", got)
	}
	if _, err := w.db.SyncConflictByID(ctx, op7.ID); err != nil {
		t.Fatalf("the stale update's conflict: %v", err)
	}
	// The same state reached from a stale version is no conflict.
	if r := w.apply(n1, updateOp(a1, r1.Version, func(*domain.Appointment) {}))[0]; r.Outcome != domain.OutcomeApplied || r.Version != version(a1) {
		t.Fatalf("a stale update to the same state: %+v", r)
	}
	// An update that changes the doctor or the patient is rejected.
	for _, change := range []func(a *domain.Appointment){
		func(a *domain.Appointment) { a.DoctorID = dB },
		func(a *domain.Appointment) { a.PatientID = uuid.NewString() },
	} {
		r := w.apply(n1, updateOp(a1, version(a1), change))[0]
		if r.Outcome != domain.OutcomeRejected || !strings.Contains(r.Reason, "cannot change") {
			t.Fatalf("an update changing the parties: %+v", r)
		}
	}
	// A node may not update an appointment of a doctor outside its scope,
	// even by naming one inside it.
	aC := w.appointment(opC.EntityID)
	if r := w.apply(n1, updateOp(aC, version(aC), func(a *domain.Appointment) { a.DoctorID = dA }))[0]; r.Outcome != domain.OutcomeRejected {
		t.Fatalf("an update of another doctor's appointment: %+v", r)
	}
	if got := w.appointment(a1.ID); !got.UpdatedAt.Equal(a1.UpdatedAt) || got.DoctorID != dA || got.PatientID != pID {
		t.Fatalf("a rejected update changed the appointment: %+v", got)
	}
	// An update whose move overlaps another booking is a conflict naming it.
	op8 := updateOp(a1, version(a1), func(a *domain.Appointment) { a.Start, a.End = at(10, 0), at(10, 30) })
	r8 := w.apply(n1, op8)[0]
	if r8.Outcome != domain.OutcomeConflict || r8.Conflict == nil || r8.Conflict.WinnerID != op2.EntityID {
		t.Fatalf("a move onto another booking: %+v", r8)
	}
	if got := w.appointment(a1.ID); !got.UpdatedAt.Equal(a1.UpdatedAt) {
		t.Fatalf("a conflicting move changed the appointment: %+v", got)
	}

	pull(t, w, n1, map[string]string{
		op1.EntityID: "moved", op2.EntityID: "", good1.EntityID: "", good2.EntityID: "", op4.EntityID: "", op5.EntityID: "",
	}, []string{op5.ID, op7.ID, op8.ID}, opC.EntityID)
}

// key names a change's entity.
func key(entity, id string) string { return entity + "/" + id }

// pull checks node n's feed after testApplyAndPull's ops: appointments
// (with the reason each has now, "" for any), conflicts, the doctor, their
// hours and the patient; hidden is an appointment outside n's scope.
func pull(t *testing.T, w *world, n *node, appointments map[string]string, conflicts []string, hidden string) {
	want := map[string]bool{
		key(domain.ChangeEntityDoctor, doctorAID): true, key(domain.ChangeEntityAvailability, doctorAID): true,
		key(domain.ChangeEntityPatient, w.patient.ID): true,
	}
	for id := range appointments {
		want[key(domain.ChangeEntityAppointment, id)] = true
	}
	for _, id := range conflicts {
		want[key(domain.ChangeEntityConflict, id)] = true
	}
	// On PostgreSQL a change shows once every older transaction of the
	// cluster has ended, so the feed is read until it has them all.
	var page *upstream.Page
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if page, err = w.svc.Changes(n.ctx, n.SyncNode, "", 0); err != nil {
			t.Fatal(err)
		}
		missing := 0
		seen := map[string]bool{}
		for _, c := range page.Changes {
			seen[key(c.Entity, c.EntityID)] = true
		}
		for k := range want {
			if !seen[k] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d changes missing from the feed: %+v", missing, page.Changes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if page.More || page.Next == "" || page.Changes[len(page.Changes)-1].Cursor != page.Next {
		t.Fatalf("page: more %v, next %q, last cursor %q", page.More, page.Next, page.Changes[len(page.Changes)-1].Cursor)
	}
	seen := map[string]bool{}
	patientBearing := 0
	for _, c := range page.Changes {
		k := key(c.Entity, c.EntityID)
		if seen[k] {
			t.Errorf("%s twice in one page", k)
		}
		seen[k] = true
		set := 0
		for _, present := range []bool{c.Appointment != nil, c.Conflict != nil, c.Doctor != nil, c.Availability != nil, c.Patient != nil} {
			if present {
				set++
			}
		}
		if set != 1 {
			t.Errorf("%s carries %d entities", k, set)
		}
		switch c.Entity {
		case domain.ChangeEntityAppointment:
			patientBearing++
			if c.EntityID == hidden {
				t.Errorf("an appointment outside the node's scope was sent: %+v", c.Appointment)
				continue
			}
			stored := w.appointment(c.EntityID)
			a := c.Appointment
			if a == nil || a.ID != c.EntityID || !a.UpdatedAt.Equal(stored.UpdatedAt) || a.Status != stored.Status || !a.Start.Equal(stored.Start) ||
				a.IdempotencyKey != "" {
				t.Errorf("appointment %s sent as %+v, stored %+v", c.EntityID, a, stored)
			}
			if reason, ok := appointments[c.EntityID]; ok && reason != "" && a.Reason != reason {
				t.Errorf("appointment %s sent at an old state: %+v", c.EntityID, a)
			}
		case domain.ChangeEntityConflict:
			patientBearing++
			if c.Conflict == nil || c.Conflict.ID != c.EntityID || c.Conflict.PatientID != w.patient.ID {
				t.Errorf("conflict %s sent as %+v", c.EntityID, c.Conflict)
			}
		case domain.ChangeEntityDoctor:
			d := c.Doctor
			if d == nil || d.Doctor == nil || d.Doctor.ID != c.EntityID || d.Account == nil || d.Account.ID != d.Doctor.UserID ||
				d.Account.Role != domain.RoleDoctor || d.Account.Email == "" {
				t.Errorf("doctor %s sent as %+v", c.EntityID, d)
			} else if d.Account.PasswordHash != "" || d.Account.MFASecret != "" {
				t.Errorf("doctor %s's account travels with its secrets", c.EntityID)
			}
		case domain.ChangeEntityAvailability:
			if c.Availability == nil || c.Availability.DoctorID != c.EntityID || c.Availability.SlotMinutes != 30 {
				t.Errorf("hours %s sent as %+v", c.EntityID, c.Availability)
			}
		case domain.ChangeEntityPatient:
			patientBearing++
			p := c.Patient
			if p == nil || p.ID != w.patient.ID || p.Name != w.patient.Name || p.InsuranceMemberNumber != "INS-4711" || p.NationalID != "NAT-0815" || p.UserID != "" {
				t.Errorf("patient sent as %+v", p)
			}
		default:
			t.Errorf("unknown entity %q", c.Entity)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("%s not in the feed", k)
		}
	}
	// Every patient-bearing change sent is recorded, naming the patient.
	pulls := func() []*domain.AuditEvent {
		return w.events(func(e *domain.AuditEvent) bool { return e.Detail == "sync_pull" && e.ActorID == "node:"+n.ID })
	}
	before := len(pulls())
	again, err := w.svc.Changes(n.ctx, n.SyncNode, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != len(page.Changes) {
		t.Fatalf("the feed changed between two reads: %d, then %d changes", len(page.Changes), len(again.Changes))
	}
	recorded := pulls()[before:]
	if len(recorded) != patientBearing {
		t.Fatalf("%d pull events recorded for %d patient-bearing changes", len(recorded), patientBearing)
	}
	for _, e := range recorded {
		if e.PatientID != w.patient.ID || e.Action != domain.ActionRead || !seen[key(e.ResourceType, e.ResourceID)] {
			t.Errorf("pull event %+v", e)
		}
	}

	// Paging: small pages continue where the last one ended, and reach the
	// same end.
	union := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := w.svc.Changes(n.ctx, n.SyncNode, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) > 2 {
			t.Fatalf("a page of 2 carries %d changes", len(p.Changes))
		}
		for _, c := range p.Changes {
			union[key(c.Entity, c.EntityID)] = true
		}
		if len(p.Changes) > 0 && p.Changes[len(p.Changes)-1].Cursor != p.Next {
			t.Fatalf("page %d ends at %q, next %q", pages, p.Changes[len(p.Changes)-1].Cursor, p.Next)
		}
		if p.Next == cursor && !p.More {
			break
		}
		cursor = p.Next
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
	if cursor != page.Next || len(union) != len(seen) {
		t.Fatalf("paging ended at %q with %d entities, one page at %q with %d", cursor, len(union), page.Next, len(seen))
	}
	// After the last cursor nothing comes again, until something changes.
	if p, err := w.svc.Changes(n.ctx, n.SyncNode, page.Next, 0); err != nil || len(p.Changes) != 0 || p.More || p.Next != page.Next {
		t.Fatalf("after the end: %+v, %v", p, err)
	}
	late := bookOp(doctorAID, w.patient.ID, at(15, 0), 30)
	w.apply(n, late)
	for {
		p, err := w.svc.Changes(n.ctx, n.SyncNode, page.Next, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) == 1 && p.Changes[0].EntityID == late.EntityID {
			break
		}
		if len(p.Changes) != 0 || time.Now().After(deadline) {
			t.Fatalf("after a new booking: %+v", p.Changes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = w.svc.Changes(n.ctx, n.SyncNode, "not a cursor", 0)
	wantCode(t, err, domain.EINVALID)
	// Only a node reads a feed.
	_, err = w.svc.Changes(w.adminCtx, n.SyncNode, "", 0)
	wantCode(t, err, domain.EFORBIDDEN)
}

// nodeLog is a node's chained audit log of n events.
func nodeLog(n int) []*domain.AuditEvent {
	start := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	evs := make([]*domain.AuditEvent, n)
	for i := range evs {
		evs[i] = &domain.AuditEvent{ID: uuid.NewString(), Time: start.Add(time.Duration(i) * time.Second), ActorID: "u1", ActorRole: "staff",
			Action: "read", ResourceType: "patient", ResourceID: fmt.Sprintf("p-%d", i%7), PatientID: fmt.Sprintf("p-%d", i%7), Outcome: "success",
			SourceIP: "10.0.0.2", UserAgent: "HealthHub", RequestID: fmt.Sprintf("r-%d", i), Detail: fmt.Sprintf("n=%d", i)}
	}
	domain.Chain(0, "", evs)
	return evs
}

func copyEvents(evs []*domain.AuditEvent) []*domain.AuditEvent {
	out := make([]*domain.AuditEvent, len(evs))
	for i, e := range evs {
		c := *e
		out[i] = &c
	}
	return out
}

// batch is the batch of evs[since:end] for an upstream that holds the
// first since events, on copies of the events.
func batch(t testing.TB, evs []*domain.AuditEvent, since, end int, s note.Signer) *auditship.Batch {
	t.Helper()
	acked := &auditship.Tree{}
	for _, e := range evs[:since] {
		if err := acked.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	b, _, err := auditship.NewBatch(acked, copyEvents(evs[since:end]), s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *world) auditHeld(n *node) int64 {
	w.t.Helper()
	st, err := w.svc.AuditState(n.ctx, n.SyncNode)
	if err != nil {
		w.t.Fatal(err)
	}
	evs, err := w.db.SyncAuditEvents(context.Background(), n.ID, 0, 100000)
	if err != nil {
		w.t.Fatal(err)
	}
	if int64(len(evs)) != st.Size {
		w.t.Fatalf("audit state %d, %d events stored", st.Size, len(evs))
	}
	return st.Size
}

func (w *world) alertNotes() map[string]int {
	w.t.Helper()
	out := map[string]int{}
	for _, u := range append([]*domain.User{w.staff}, w.admins...) {
		notes, err := w.db.ListNotifications(context.Background(), u.ID, 100)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, x := range notes {
			if x.Kind == "sync_alert" {
				out[u.ID]++
			}
		}
	}
	return out
}

func TestAcceptAudit(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, eng)
			ctx := context.Background()
			n := w.enroll("hh-test1")
			evs := nodeLog(upstream.MaxAuditBatch + 100)
			if w.auditHeld(n) != 0 {
				t.Fatal("a new node has audit events")
			}
			// Batches in sequence are accepted.
			for _, span := range [][2]int{{0, 30}, {30, 60}} {
				ack, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, span[0], span[1], n.signer))
				if err != nil || ack.New != span[1]-span[0] || ack.Redelivery != 0 || ack.Size != int64(span[1]) {
					t.Fatalf("batch %v: %+v, %v", span, ack, err)
				}
				if got := w.auditHeld(n); got != int64(span[1]) {
					t.Fatalf("after batch %v the upstream holds %d", span, got)
				}
			}
			st, _ := w.svc.AuditState(n.ctx, n.SyncNode)
			if st.HeadHash != evs[59].Hash {
				t.Fatalf("head %q, want %q", st.HeadHash, evs[59].Hash)
			}
			held, err := w.db.SyncAuditEvents(ctx, n.ID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range held {
				x := evs[i]
				if e.Seq != x.Seq || e.ID != x.ID || !e.Time.Equal(x.Time) || e.ActorID != x.ActorID || e.ActorRole != x.ActorRole || e.Action != x.Action ||
					e.ResourceType != x.ResourceType || e.ResourceID != x.ResourceID || e.PatientID != x.PatientID || e.Outcome != x.Outcome ||
					e.SourceIP != x.SourceIP || e.UserAgent != x.UserAgent || e.RequestID != x.RequestID || e.Detail != x.Detail ||
					e.PrevHash != x.PrevHash || e.Hash != x.Hash || e.ComputeHash() != e.Hash {
					t.Fatalf("held event %d = %+v, the node's %+v", i, e, x)
				}
			}
			if evs := w.events(func(e *domain.AuditEvent) bool { return strings.HasPrefix(e.Detail, "audit_events=") }); len(evs) != 2 {
				t.Fatalf("%d accepted batches recorded, want 2", len(evs))
			}

			// A batch sent again after its answer was lost changes nothing.
			ack, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 30, 60, n.signer))
			if err != nil || ack.New != 0 || ack.Redelivery != 30 || ack.Size != 60 || w.auditHeld(n) != 60 {
				t.Fatalf("redelivery: %+v, %v", ack, err)
			}
			// A gap, too many events or no checkpoint is invalid.
			_, err = w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 70, 80, n.signer))
			wantCode(t, err, domain.EINVALID)
			_, err = w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 60, 60+upstream.MaxAuditBatch+1, n.signer))
			wantCode(t, err, domain.EINVALID)
			_, err = w.svc.AcceptAudit(n.ctx, n.SyncNode, &auditship.Batch{Events: copyEvents(evs[60:61])})
			wantCode(t, err, domain.EINVALID)
			_, err = w.svc.AcceptAudit(n.ctx, n.SyncNode, nil)
			wantCode(t, err, domain.EINVALID)
			if w.auditHeld(n) != 60 || w.svc.Alerts() != 0 || len(w.alertNotes()) != 0 {
				t.Fatalf("refused batches changed something: %d held, %d alerts", w.auditHeld(n), w.svc.Alerts())
			}
			// The most events a batch may carry is accepted.
			ack, err = w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 60, 60+upstream.MaxAuditBatch, n.signer))
			if err != nil || ack.New != upstream.MaxAuditBatch {
				t.Fatalf("a batch of MaxAuditBatch events: %+v, %v", ack, err)
			}
			// Only the node itself ships its log.
			_, err = w.svc.AcceptAudit(w.adminCtx, n.SyncNode, batch(t, evs, 60+upstream.MaxAuditBatch, len(evs), n.signer))
			wantCode(t, err, domain.EFORBIDDEN)
		})
	}
}

// A node whose answer was lost re-sends from what it last knew the
// upstream held, with events logged meanwhile: nothing in it is tampered,
// so it must not raise an alert.
func TestAuditResentWithMoreAfterALostAnswer(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, eng)
			n := w.enroll("hh-test1")
			evs := nodeLog(100)
			for _, span := range [][2]int{{0, 30}, {30, 60}} {
				if _, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, span[0], span[1], n.signer)); err != nil {
					t.Fatal(err)
				}
			}
			// The answer to [30, 60) was lost; the node sends [30, 70).
			ack, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 30, 70, n.signer))
			if err != nil {
				wantCode(t, err, domain.EINVALID) // the node asks for the state and sends from there
			} else if ack.Size != 70 || ack.New != 10 {
				t.Fatalf("resent with more: %+v", ack)
			}
			if w.svc.Alerts() != 0 || len(w.alertNotes()) != 0 {
				t.Fatalf("a batch resent after a lost answer raised %d alerts: %v", w.svc.Alerts(), err)
			}
			if len(w.events(func(e *domain.AuditEvent) bool { return strings.HasPrefix(e.Detail, "alert=") })) != 0 {
				t.Fatal("a batch resent after a lost answer was recorded as an alert")
			}
			held := int(w.auditHeld(n))
			if _, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, held, 100, n.signer)); err != nil || w.auditHeld(n) != 100 {
				t.Fatalf("the batch from the state the upstream holds: %v", err)
			}
		})
	}
}

func TestTamperedAuditIsRefusedAndRaised(t *testing.T) {
	evs := nodeLog(60)
	cases := []struct {
		name  string
		batch func(t *testing.T, n *node) *auditship.Batch
		code  string
		alert string // "" for no alert
	}{
		{"an event edited and rehashed", func(t *testing.T, n *node) *auditship.Batch {
			b := batch(t, evs, 30, 60, n.signer)
			b.Events[5].Detail = "nothing to see"
			b.Events[5].Hash = b.Events[5].ComputeHash()
			return b
		}, domain.ECONFLICT, "alert=audit_divergent"},
		{"the last event edited and rehashed", func(t *testing.T, n *node) *auditship.Batch {
			b := batch(t, evs, 30, 60, n.signer)
			e := b.Events[len(b.Events)-1]
			e.Outcome = "denied"
			e.Hash = e.ComputeHash()
			return b
		}, domain.ECONFLICT, "alert=audit_divergent"},
		{"a held event sent again edited and rehashed", func(t *testing.T, n *node) *auditship.Batch {
			b := batch(t, evs, 25, 60, n.signer)
			b.Events[2].Outcome = "denied"
			b.Events[2].Hash = b.Events[2].ComputeHash()
			return b
		}, domain.ECONFLICT, "alert=audit_divergent"},
		{"a reordered pair, renumbered", func(t *testing.T, n *node) *auditship.Batch {
			b := batch(t, evs, 30, 60, n.signer)
			b.Events[3], b.Events[4] = b.Events[4], b.Events[3]
			b.Events[3].Seq, b.Events[4].Seq = b.Events[4].Seq, b.Events[3].Seq
			return b
		}, domain.ECONFLICT, "alert=audit_divergent"},
		{"a reordered pair of held events, rechained and signed", func(t *testing.T, n *node) *auditship.Batch {
			forked := copyEvents(evs)
			forked[10], forked[11] = forked[11], forked[10]
			domain.Chain(10, forked[9].Hash, forked[10:])
			return batch(t, forked, 0, 60, n.signer)
		}, domain.ECONFLICT, "alert=audit_divergent"},
		{"a checkpoint signed with another key of the node's name", func(t *testing.T, n *node) *auditship.Batch {
			other, _ := keys(t, n.ID)
			return batch(t, evs, 30, 60, other)
		}, domain.ECONFLICT, "alert=audit_bad_signature"},
		{"a checkpoint of another tree", func(t *testing.T, n *node) *auditship.Batch {
			b := batch(t, evs, 30, 60, n.signer)
			v, err := note.NewVerifier(n.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			c, err := auditship.Open(b.Checkpoint, v)
			if err != nil {
				t.Fatal(err)
			}
			c.Root[0] ^= 1
			if b.Checkpoint, err = auditship.Sign(c, n.signer); err != nil {
				t.Fatal(err)
			}
			return b
		}, domain.ECONFLICT, "alert=audit_divergent"},
		{"events missing at the end", func(t *testing.T, n *node) *auditship.Batch {
			b := batch(t, evs, 30, 60, n.signer)
			b.Events = b.Events[:len(b.Events)-1]
			return b
		}, domain.EINVALID, ""}, // the node's mistake: a gap
		{"a pair swapped, numbers kept", func(t *testing.T, n *node) *auditship.Batch {
			b := batch(t, evs, 30, 60, n.signer)
			b.Events[3], b.Events[4] = b.Events[4], b.Events[3]
			return b
		}, domain.EINVALID, ""}, // out of sequence: refused as a gap
	}
	for _, eng := range storetest.Engines(t) {
		for _, tc := range cases {
			t.Run(eng.Name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, eng)
				n := w.enroll("hh-test1")
				if _, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 0, 30, n.signer)); err != nil {
					t.Fatal(err)
				}
				_, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, tc.batch(t, n))
				wantCode(t, err, tc.code)
				if w.auditHeld(n) != 30 {
					t.Fatalf("a refused batch was stored: %d held", w.auditHeld(n))
				}
				st, _ := w.svc.AuditState(n.ctx, n.SyncNode)
				if st.HeadHash != evs[29].Hash {
					t.Fatalf("head moved to %q", st.HeadHash)
				}
				alerts := w.events(func(e *domain.AuditEvent) bool { return strings.HasPrefix(e.Detail, "alert=") })
				notes := w.alertNotes()
				if tc.alert == "" {
					if w.svc.Alerts() != 0 || len(alerts) != 0 || len(notes) != 0 {
						t.Fatalf("no alert expected: %d, %+v, %v", w.svc.Alerts(), alerts, notes)
					}
				} else {
					if w.svc.Alerts() != 1 {
						t.Fatalf("%d alerts, want 1", w.svc.Alerts())
					}
					if len(alerts) != 1 || alerts[0].Detail != tc.alert || alerts[0].ResourceID != n.ID || alerts[0].Outcome != domain.OutcomeFailure {
						t.Fatalf("alert events %+v, want one %q", alerts, tc.alert)
					}
					for _, a := range w.admins {
						if notes[a.ID] != 1 {
							t.Fatalf("admin %s has %d alert notifications", a.Email, notes[a.ID])
						}
					}
					if notes[w.staff.ID] != 0 {
						t.Fatal("a non-admin was notified of a security alert")
					}
				}
				// The untampered batch is still accepted.
				if ack, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 30, 60, n.signer)); err != nil || ack.New != 30 || w.auditHeld(n) != 60 {
					t.Fatalf("the good batch after a refusal: %+v, %v", ack, err)
				}
			})
		}
	}
}

// fuzzWorld is an upstream with one node enrolled for all doctors.
type fuzzWorld struct {
	w *world
	n *node
}

// FuzzApplyOps feeds pushes of any content to Apply: it never panics, and
// answers a decodable push with results or a caller's error, never an
// internal one. Every answer is given again the same on redelivery.
func FuzzApplyOps(f *testing.F) {
	var worlds []fuzzWorld
	for _, eng := range storetest.Engines(f) {
		w := newWorld(f, eng)
		worlds = append(worlds, fuzzWorld{w: w, n: w.enroll("hh-fuzz")})
	}
	seed := func(ops ...*domain.SyncOp) {
		b, err := json.Marshal(upstream.Push{Ops: ops})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	book := bookOp(doctorAID, patientID, at(9, 0), 30)
	seed(book, updateOp(book.Appointment, "op:"+book.ID, func(a *domain.Appointment) { a.Status = domain.StatusCancelled }))
	clash := bookOp(doctorAID, patientID, at(9, 15), 30)
	seed(clash, updateOp(clash.Appointment, "2030-01-01T00:00:00.000000Z", func(a *domain.Appointment) { a.DoctorID = doctorBID }))
	nul := bookOp(doctorBID, patientID, at(20, 0), 30)
	nul.Appointment.Reason, nul.ActorID = "nul \x00 and \u2028 and \xff", "desk\x00user"
	seed(nul, updateOp(nul.Appointment, "op:"+nul.ID, func(a *domain.Appointment) { a.CancelReason, a.Status = "\x00", domain.StatusCancelled }))
	odd := bookOp(doctorBID, patientID, at(23, 30), 60)
	odd.Appointment.Start = time.Date(9999, 12, 31, 22, 0, 0, 0, time.FixedZone("", -5*3600)) // 10000 in UTC
	odd.Appointment.End = odd.Appointment.Start.Add(time.Hour)
	seed(odd, updateOp(odd.Appointment, "op:"+odd.ID, func(a *domain.Appointment) { a.Status = domain.StatusNoShow }))
	f.Add([]byte(`{"ops":[{"op_id":"00000000-0000-4000-8000-000000000001","entity":"appointment","entity_id":"x","kind":"book",` +
		`"appointment":{"id":"x","doctor_id":"` + doctorAID + `","patient_id":"` + patientID + `","start":"0001-01-01T00:00:01Z","end":"0001-01-01T00:30:00Z","status":"booked"}}]}`))
	f.Add([]byte(`{"ops":[{"op_id":"00000000-0000-4000-8000-000000000002","entity":"appointment","entity_id":"y","kind":"update","base_version":"op:","appointment":{"id":"y"}}]}`))
	f.Add([]byte(`{"ops":[null]}`))
	f.Add([]byte(`{"ops":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var push upstream.Push
		if err := json.Unmarshal(data, &push); err != nil {
			t.Skip()
		}
		for _, fw := range worlds {
			got, err := fw.w.svc.Apply(fw.n.ctx, fw.n.SyncNode, push)
			if err != nil {
				switch domain.ErrorCode(err) {
				case domain.EINVALID, domain.ECONFLICT, domain.ENOTFOUND, domain.EFORBIDDEN, domain.EUNAUTHORIZED, domain.ETOOLARGE, domain.ERATELIMITED:
					continue
				}
				t.Fatalf("%s: push %s: %v", fw.w.db.Engine(), data, err)
			}
			if len(got.Results) != len(push.Ops) {
				t.Fatalf("%d results for %d ops", len(got.Results), len(push.Ops))
			}
			for i, r := range got.Results {
				switch r.Outcome {
				case domain.OutcomeApplied, domain.OutcomeConflict, domain.OutcomeRejected:
				default:
					t.Fatalf("op %d answered %q", i, r.Outcome)
				}
			}
			// Exactly once: the same push again gets the same answers.
			again, err := fw.w.svc.Apply(fw.n.ctx, fw.n.SyncNode, push)
			if err != nil {
				t.Fatalf("%s: the push again: %v", fw.w.db.Engine(), err)
			}
			for i, r := range again.Results {
				if d := sameResult(r, got.Results[i]); d != "" {
					t.Fatalf("%s: op %d answered differently on redelivery: %s", fw.w.db.Engine(), i, d)
				}
			}
		}
	})
}
