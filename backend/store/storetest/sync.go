package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

var syncTests = []struct {
	name string
	fn   func(t *testing.T, db store.DB)
}{
	{"SyncEnrolmentIsSingleUseAndExpires", testSyncEnrollment},
	{"SyncEnrolmentRaceHasOneWinner", testSyncEnrollmentRace},
	{"SyncNodesTouchAndRevoke", testSyncNodes},
	{"SyncOpAppliedOnce", testSyncOpApply},
	{"SyncOpOverlapStoresNothing", testSyncOpOverlap},
	{"SyncOpConcurrentDeliveryAppliedOnce", testSyncOpConcurrent},
	{"SyncAuditAppendGuarded", testSyncAudit},
	{"SyncConflicts", testSyncConflicts},
	{"SyncQueuedOpsBaseVersions", testQueuedOps},
	{"SyncQueuedOpsNothingQueuedOnFailure", testQueuedOpsFailures},
	{"SyncAnswerRefusedBookingAndOverlap", testAnswerRefused},
	{"SyncPutSyncedAppointment", testPutSyncedAppointment},
	{"SyncPutSyncedReferenceData", testPutSyncedReference},
	{"SyncReferenceDataWritesChanges", testReferenceChanges},
	{"SyncValues", testSyncValues},
	{"SyncLeaseAdmitsOnlyItsHolder", testLeaseAdmission},
	{"SyncLeasedPulledState", testLeasePulled},
	{"SyncLeasesNeverOverlap", testLeaseOverlap},
	{"SyncLeasesExpire", testLeaseExpiry},
	{"SyncLeaseCovering", testLeaseCovering},
	{"SyncOpLeasedStoresNothing", testSyncOpLeased},
	{"SyncLeaseGrantsRaceBookings", testLeaseRace},
	{"ChangesCompaction", testChangesCompaction},
	{"ChangesCompactionRacesBookings", testChangesCompactionRace},
	{"ChangesBackfilledOnUpgrade", testChangesBackfill},
}

// enroll makes an enrolment code and enrolls a node with it.
func enroll(t *testing.T, db store.DB, tag string, doctors ...string) *domain.SyncNode {
	t.Helper()
	ctx := context.Background()
	e := &domain.SyncEnrollment{CodeHash: "code-" + tag, Name: "Node " + tag, DoctorIDs: doctors, CreatedBy: "admin", CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour)}
	if err := db.CreateSyncEnrollment(ctx, e); err != nil {
		t.Fatal(err)
	}
	n := &domain.SyncNode{PublicKey: "key-" + tag, CredentialHash: "cred-" + tag, EnrolledBy: "admin", EnrolledAt: t0.Add(time.Minute)}
	if err := db.EnrollSyncNode(ctx, e.CodeHash, n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testSyncEnrollment(t *testing.T, db store.DB) {
	ctx := context.Background()
	e := &domain.SyncEnrollment{CodeHash: "h1", Name: "Front desk", DoctorIDs: []string{"d1", "d2"}, CreatedBy: "admin", CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour)}
	if err := db.CreateSyncEnrollment(ctx, e); err != nil || e.ID == "" {
		t.Fatalf("create enrolment: %v, id %q", err, e.ID)
	}
	mustCode(t, db.CreateSyncEnrollment(ctx, &domain.SyncEnrollment{CodeHash: "h1", CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0}), domain.ECONFLICT)
	expired := &domain.SyncEnrollment{CodeHash: "h-old", CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := db.CreateSyncEnrollment(ctx, expired); err != nil {
		t.Fatal(err)
	}
	node := func(cred string, at time.Time) *domain.SyncNode {
		return &domain.SyncNode{PublicKey: "pk", CredentialHash: cred, EnrolledBy: "admin", EnrolledAt: at}
	}
	refused := func(code string, n *domain.SyncNode) {
		t.Helper()
		err := db.EnrollSyncNode(ctx, code, n)
		mustCode(t, err, domain.ENOTFOUND)
		if !strings.Contains(domain.ErrorMessage(err), "unknown, used or expired") {
			t.Fatalf("message = %q", domain.ErrorMessage(err))
		}
	}
	refused("nope", node("c0", t0))
	// Expired: a code is good only before its expiry.
	refused("h-old", node("c0", t0.Add(time.Minute)))

	n := node("c1", t0.Add(time.Minute))
	if err := db.EnrollSyncNode(ctx, "h1", n); err != nil {
		t.Fatal(err)
	}
	if n.ID == "" || n.Name != "Front desk" || strings.Join(n.DoctorIDs, ",") != "d1,d2" {
		t.Fatalf("enrolled node = %+v", n)
	}
	// Single use: the same code again, even for another node, is refused.
	refused("h1", node("c2", t0.Add(2*time.Minute)))
	got, err := db.SyncNodeByCredential(ctx, "c1")
	if err != nil || got.ID != n.ID || got.Name != "Front desk" || got.PublicKey != "pk" || got.EnrolledBy != "admin" ||
		!got.EnrolledAt.Equal(t0.Add(time.Minute)) || strings.Join(got.DoctorIDs, ",") != "d1,d2" || got.Revoked() ||
		!got.LastSeenAt.IsZero() || got.AuditSize != 0 {
		t.Fatalf("by credential = %+v, %v", got, err)
	}
	if got, err := db.SyncNodeByID(ctx, n.ID); err != nil || got.CredentialHash != "c1" {
		t.Fatalf("by id = %+v, %v", got, err)
	}
	_, err = db.SyncNodeByCredential(ctx, "c2")
	mustCode(t, err, domain.ENOTFOUND)
	_, err = db.SyncNodeByID(ctx, "missing")
	mustCode(t, err, domain.ENOTFOUND)

	// A node with a name keeps it; no doctors means all of them.
	open := &domain.SyncEnrollment{CodeHash: "h2", Name: "Unnamed", CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := db.CreateSyncEnrollment(ctx, open); err != nil {
		t.Fatal(err)
	}
	// A failed enrolment (a credential already in use) leaves the code unused.
	mustCode(t, db.EnrollSyncNode(ctx, "h2", node("c1", t0.Add(time.Minute))), domain.ECONFLICT)
	named := node("c3", t0.Add(time.Minute))
	named.Name = "Clinic server"
	if err := db.EnrollSyncNode(ctx, "h2", named); err != nil {
		t.Fatalf("code after a failed enrolment: %v", err)
	}
	if named.Name != "Clinic server" || len(named.DoctorIDs) != 0 {
		t.Fatalf("named node = %+v", named)
	}
	list, err := db.ListSyncNodes(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListSyncNodes = %d, %v", len(list), err)
	}
}

func testSyncEnrollmentRace(t *testing.T, db store.DB) {
	ctx := context.Background()
	if err := db.CreateSyncEnrollment(ctx, &domain.SyncEnrollment{CodeHash: "race", CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var wins, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.EnrollSyncNode(ctx, "race", &domain.SyncNode{Name: fmt.Sprint(i), PublicKey: "pk", CredentialHash: fmt.Sprintf("cred-%d", i),
				EnrolledBy: "admin", EnrolledAt: t0.Add(time.Minute)})
			switch {
			case err == nil:
				wins.Add(1)
			case domain.IsCode(err, domain.ENOTFOUND):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || refused.Load() != 7 {
		t.Fatalf("wins=%d refused=%d; one code enrolls one node", wins.Load(), refused.Load())
	}
	if list, _ := db.ListSyncNodes(ctx); len(list) != 1 {
		t.Fatalf("%d nodes enrolled with one code", len(list))
	}
}

func testSyncNodes(t *testing.T, db store.DB) {
	ctx := context.Background()
	n := enroll(t, db, "touch")
	if err := db.TouchSyncNode(ctx, n.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// An older touch never moves last-seen backwards.
	if err := db.TouchSyncNode(ctx, n.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ := db.SyncNodeByID(ctx, n.ID)
	if !got.LastSeenAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("last seen = %v", got.LastSeenAt)
	}
	mustCode(t, db.TouchSyncNode(ctx, "missing", t0), domain.ENOTFOUND)

	if err := db.RevokeSyncNode(ctx, n.ID, "admin-1", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeSyncNode(ctx, n.ID, "admin-2", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.SyncNodeByID(ctx, n.ID)
	if !got.Revoked() || got.RevokedBy != "admin-1" || !got.RevokedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("revoked twice: %+v; the first revocation stands", got)
	}
	mustCode(t, db.RevokeSyncNode(ctx, "missing", "admin", t0), domain.ENOTFOUND)
}

// upstreamBooking is the result and write of a node's booking applied.
func upstreamBooking(opID string, a *domain.Appointment) (*domain.SyncOpResult, domain.SyncWrite) {
	a.ID = "appt-" + opID
	a.UpdatedAt = t0.Add(time.Second)
	res := &domain.SyncOpResult{OpID: opID, NodeID: "node-1", EntityID: a.ID, Outcome: domain.OutcomeApplied,
		Version: a.UpdatedAt.Format(domain.AuditTimeFormat), Appointment: a, At: t0.Add(time.Second)}
	return res, domain.SyncWrite{Appointment: a, Create: true}
}

func testSyncOpApply(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "op")
	u := newUser("op-patient@example.org", domain.RolePatient)
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err := db.SyncOpResult(ctx, "op-1")
	mustCode(t, err, domain.ENOTFOUND)

	a := appt(d, p, t0.Add(24*time.Hour), 30)
	res, w := upstreamBooking("op-1", a)
	w.Notes = []*domain.Notification{{UserID: u.ID, Kind: domain.NotifyBooked, Subject: "Booked", Body: "b", CreatedAt: t0}}
	if err := db.ApplySyncOp(ctx, res, w); err != nil {
		t.Fatal(err)
	}
	if got, err := db.AppointmentByID(ctx, a.ID); err != nil || !got.Start.Equal(a.Start) || got.Status != domain.StatusBooked {
		t.Fatalf("applied booking = %+v, %v", got, err)
	}
	if notes, _ := db.ListNotifications(ctx, u.ID, 10); len(notes) != 1 {
		t.Fatalf("notes of the op: %d", len(notes))
	}
	stored, err := db.SyncOpResult(ctx, "op-1")
	if err != nil || stored.NodeID != "node-1" || stored.Outcome != domain.OutcomeApplied || stored.Version != res.Version ||
		stored.EntityID != a.ID || stored.Appointment == nil || stored.Appointment.ID != a.ID || !stored.At.Equal(res.At) {
		t.Fatalf("stored result = %+v, %v", stored, err)
	}

	// Delivered again: nothing changes and the first answer comes back.
	again := &domain.SyncOpResult{OpID: "op-1", NodeID: "node-1", Outcome: domain.OutcomeRejected, Reason: "second try", At: t0.Add(time.Hour)}
	b := appt(d, p, t0.Add(48*time.Hour), 30)
	b.ID = "appt-op-1-again"
	err = db.ApplySyncOp(ctx, again, domain.SyncWrite{Appointment: b, Create: true, Notes: []*domain.Notification{{UserID: u.ID, Kind: "x", Subject: "s", Body: "b", CreatedAt: t0}}})
	if !errors.Is(err, domain.ErrOpReplay) {
		t.Fatalf("second delivery = %v, want ErrOpReplay", err)
	}
	if again.Outcome != domain.OutcomeApplied || again.Reason != "" || again.Version != res.Version || again.NodeID != "node-1" ||
		again.Appointment == nil || again.Appointment.ID != a.ID {
		t.Fatalf("replayed result = %+v; want the stored one", again)
	}
	if _, err := db.AppointmentByID(ctx, b.ID); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("a replayed op wrote its appointment: %v", err)
	}
	if notes, _ := db.ListNotifications(ctx, u.ID, 10); len(notes) != 1 {
		t.Fatalf("a replayed op wrote notes: %d", len(notes))
	}

	// An update is guarded by the version it expects.
	moved := *a
	moved.Start, moved.End, moved.UpdatedAt = a.Start.Add(time.Hour), a.End.Add(time.Hour), t0.Add(time.Minute)
	upd := &domain.SyncOpResult{OpID: "op-2", NodeID: "node-1", EntityID: a.ID, Outcome: domain.OutcomeApplied, Appointment: &moved, At: t0.Add(time.Minute)}
	if err := db.ApplySyncOp(ctx, upd, domain.SyncWrite{Appointment: &moved, Expect: a.UpdatedAt}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.AppointmentByID(ctx, a.ID); !got.Start.Equal(moved.Start) || !got.UpdatedAt.Equal(moved.UpdatedAt) {
		t.Fatalf("after the update op: %+v", got)
	}
	stale := moved
	stale.Reason, stale.UpdatedAt = "stale", t0.Add(2*time.Minute)
	err = db.ApplySyncOp(ctx, &domain.SyncOpResult{OpID: "op-3", NodeID: "node-1", Outcome: domain.OutcomeApplied, At: t0},
		domain.SyncWrite{Appointment: &stale, Expect: a.UpdatedAt})
	mustCode(t, err, domain.ECONFLICT)
	if _, err := db.SyncOpResult(ctx, "op-3"); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("a failed op kept its result: %v", err)
	}
	if got, _ := db.AppointmentByID(ctx, a.ID); got.Reason == "stale" {
		t.Fatal("a stale update was written")
	}

	// A booking of an unknown doctor is not found, and stores nothing.
	ghost := appt(&domain.Doctor{ID: "no-such-doctor"}, p, t0.Add(72*time.Hour), 30)
	gres, gw := upstreamBooking("op-ghost", ghost)
	mustCode(t, db.ApplySyncOp(ctx, gres, gw), domain.ENOTFOUND)
	if _, err := db.SyncOpResult(ctx, "op-ghost"); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("a failed op kept its result: %v", err)
	}

	// An op that lost records its conflict (the id is the op's when unset).
	c := &domain.SyncConflict{NodeID: "node-1", AppointmentID: "appt-x", DoctorID: d.ID, PatientID: p.ID, Start: t0, End: t0.Add(time.Hour),
		Kind: domain.OpBook, Outcome: domain.OutcomeConflict, Reason: "taken", WinnerID: a.ID, CreatedAt: t0}
	lost := &domain.SyncOpResult{OpID: "op-4", NodeID: "node-1", EntityID: "appt-x", Outcome: domain.OutcomeConflict, Reason: "taken", Conflict: c, At: t0}
	if err := db.ApplySyncOp(ctx, lost, domain.SyncWrite{Conflict: c}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.SyncConflictByID(ctx, "op-4"); err != nil || got.WinnerID != a.ID || got.Reason != "taken" {
		t.Fatalf("conflict of the lost op = %+v, %v", got, err)
	}
	if got, err := db.SyncOpResult(ctx, "op-4"); err != nil || got.Conflict == nil || got.Conflict.ID != "op-4" {
		t.Fatalf("result of the lost op = %+v, %v", got, err)
	}
}

func testSyncOpOverlap(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "ov")
	held := appt(d, p, t0.Add(24*time.Hour), 60)
	if err := db.BookAppointment(ctx, held, nil); err != nil {
		t.Fatal(err)
	}
	a := appt(d, p, t0.Add(24*time.Hour+30*time.Minute), 60)
	res, w := upstreamBooking("op-ov", a)
	w.Notes = []*domain.Notification{{UserID: d.UserID, Kind: domain.NotifyBooked, Subject: "s", Body: "b", CreatedAt: t0}}
	w.Conflict = &domain.SyncConflict{NodeID: "node-1", Kind: domain.OpBook, Outcome: domain.OutcomeConflict, Reason: "r", CreatedAt: t0}
	err := db.ApplySyncOp(ctx, res, w)
	mustCode(t, err, domain.ECONFLICT)
	if errors.Is(err, domain.ErrOpReplay) || !strings.Contains(domain.ErrorMessage(err), held.Start.UTC().Format(time.RFC3339)) {
		t.Fatalf("overlap error = %v; want the clash naming the appointment in the way", err)
	}
	if _, err := db.SyncOpResult(ctx, "op-ov"); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("the op of a failed write was kept: %v", err)
	}
	if _, err := db.AppointmentByID(ctx, a.ID); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("the overlapping appointment was written: %v", err)
	}
	if notes, _ := db.ListNotifications(ctx, d.UserID, 10); len(notes) != 0 {
		t.Fatalf("notes of a failed write: %d", len(notes))
	}
	if cs, _ := db.ListSyncConflicts(ctx, false, 10); len(cs) != 0 {
		t.Fatalf("conflict of a failed write: %+v", cs)
	}
	// The same op may then be answered otherwise, as the upstream does.
	res.Outcome, res.Appointment = domain.OutcomeConflict, nil
	if err := db.ApplySyncOp(ctx, res, domain.SyncWrite{Conflict: w.Conflict}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.SyncOpResult(ctx, "op-ov"); err != nil || got.Outcome != domain.OutcomeConflict {
		t.Fatalf("second answer = %+v, %v", got, err)
	}
}

func testSyncOpConcurrent(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "cc")
	var ok, replays atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, w := upstreamBooking("op-cc", appt(d, p, t0.Add(24*time.Hour), 30))
			err := db.ApplySyncOp(ctx, res, w)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, domain.ErrOpReplay):
				if res.Outcome != domain.OutcomeApplied || res.NodeID != "node-1" || res.Appointment == nil {
					t.Errorf("replayed result = %+v", res)
				}
				replays.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || replays.Load() != 7 {
		t.Fatalf("applied=%d replays=%d; an op applies exactly once", ok.Load(), replays.Load())
	}
	if list, _ := db.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: d.ID}); len(list) != 1 {
		t.Fatalf("%d appointments from one op", len(list))
	}
}

func treeHash(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint("tree-", i))) }

func testSyncAudit(t *testing.T, db store.DB) {
	ctx := context.Background()
	n := enroll(t, db, "audit")
	other := enroll(t, db, "audit-other")
	s, err := db.SyncAuditState(ctx, n.ID)
	if err != nil || s.Size != 0 || s.HeadHash != "" || len(s.Checkpoint) != 0 {
		t.Fatalf("empty state = %+v, %v", s, err)
	}
	_, err = db.SyncAuditState(ctx, "missing")
	mustCode(t, err, domain.ENOTFOUND)

	var evs []*domain.AuditEvent
	for i := 1; i <= 5; i++ {
		e := auditEvent(i, "p1")
		e.Detail = fmt.Sprintf("detail %d with \"quotes\" and ünïcode", i)
		e.Time = e.Time.Add(789 * time.Nanosecond) // truncated to microseconds by Chain
		evs = append(evs, e)
	}
	domain.Chain(0, "", evs)
	hashes := func(from, to int) []domain.StoredHash {
		var out []domain.StoredHash
		for i := from; i < to; i++ {
			out = append(out, domain.StoredHash{Index: int64(i), Hash: treeHash(i)})
		}
		return out
	}
	first := domain.SyncAudit{Size: 3, HeadHash: evs[2].Hash, Checkpoint: []byte("checkpoint 3\n")}
	if err := db.AppendSyncAudit(ctx, n.ID, 0, evs[:3], hashes(0, 4), first); err != nil {
		t.Fatal(err)
	}
	// The guard: a batch made from a stale size is a conflict and adds nothing.
	err = db.AppendSyncAudit(ctx, n.ID, 0, evs[3:], hashes(4, 8), domain.SyncAudit{Size: 2, HeadHash: "x", Checkpoint: []byte("x")})
	mustCode(t, err, domain.ECONFLICT)
	mustCode(t, db.AppendSyncAudit(ctx, "missing", 0, evs[:1], nil, first), domain.ENOTFOUND)
	if s, _ := db.SyncAuditState(ctx, n.ID); s.Size != 3 || s.HeadHash != evs[2].Hash || string(s.Checkpoint) != "checkpoint 3\n" {
		t.Fatalf("state after a refused batch = %+v", s)
	}
	if got, _ := db.SyncAuditEvents(ctx, n.ID, 0, 100); len(got) != 3 {
		t.Fatalf("%d events after a refused batch", len(got))
	}
	if _, err := db.SyncTreeHashes(ctx, n.ID, []int64{4}); err == nil {
		t.Fatal("a refused batch stored its hashes")
	}
	next := domain.SyncAudit{Size: 5, HeadHash: evs[4].Hash, Checkpoint: []byte("checkpoint 5\n")}
	if err := db.AppendSyncAudit(ctx, n.ID, 3, evs[3:], hashes(4, 8), next); err != nil {
		t.Fatal(err)
	}
	if s, err := db.SyncAuditState(ctx, n.ID); err != nil || s.Size != 5 || s.HeadHash != evs[4].Hash || string(s.Checkpoint) != "checkpoint 5\n" {
		t.Fatalf("state = %+v, %v", s, err)
	}
	if got, _ := db.SyncNodeByID(ctx, n.ID); got.AuditSize != 5 {
		t.Fatalf("node audit size = %d", got.AuditSize)
	}

	// Events come back whole: their hashes recompute.
	for _, want := range evs {
		got, err := db.SyncAuditEvent(ctx, n.ID, want.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if got.ComputeHash() != want.Hash || got.Hash != want.Hash || got.PrevHash != want.PrevHash || !got.Time.Equal(want.Time) ||
			got.Detail != want.Detail || got.ID != want.ID {
			t.Fatalf("event %d read back = %+v, want %+v", want.Seq, got, want)
		}
	}
	_, err = db.SyncAuditEvent(ctx, n.ID, 6)
	mustCode(t, err, domain.ENOTFOUND)
	_, err = db.SyncAuditEvent(ctx, other.ID, 1)
	mustCode(t, err, domain.ENOTFOUND)
	page, err := db.SyncAuditEvents(ctx, n.ID, 2, 2)
	if err != nil || len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
		t.Fatalf("page after 2 = %+v, %v", page, err)
	}

	got, err := db.SyncTreeHashes(ctx, n.ID, []int64{7, 0, 3, 0})
	if err != nil || len(got) != 4 || got[0] != treeHash(7) || got[1] != treeHash(0) || got[2] != treeHash(3) || got[3] != treeHash(0) {
		t.Fatalf("tree hashes = %x, %v", got, err)
	}
	if _, err := db.SyncTreeHashes(ctx, n.ID, []int64{1, 8}); err == nil {
		t.Fatal("a missing tree hash gave no error")
	}
	if _, err := db.SyncTreeHashes(ctx, other.ID, []int64{0}); err == nil {
		t.Fatal("another node's tree hash was returned")
	}

	// Another node's log is its own, from seq 1.
	if err := db.AppendSyncAudit(ctx, other.ID, 0, evs[:1], hashes(0, 1), domain.SyncAudit{Size: 1, HeadHash: evs[0].Hash}); err != nil {
		t.Fatal(err)
	}
	if s, _ := db.SyncAuditState(ctx, other.ID); s.Size != 1 || len(s.Checkpoint) != 0 {
		t.Fatalf("other node's state = %+v", s)
	}

	// What the upstream holds of a node's log cannot be edited.
	raw := db.(Raw)
	for _, q := range []string{
		`UPDATE sync_node_audit SET detail = 'edited' WHERE seq = 1`,
		`DELETE FROM sync_node_audit WHERE seq = 5`,
		`DELETE FROM sync_node_tree WHERE idx = 0`,
	} {
		if err := raw.Exec(ctx, q); err == nil {
			t.Errorf("the database accepted %q", q)
		}
	}
}

func conflictAt(id string, at time.Time) *domain.SyncConflict {
	return &domain.SyncConflict{ID: id, NodeID: "node-1", AppointmentID: "appt-" + id, DoctorID: "doc", PatientID: "pat",
		Start: t0.Add(24 * time.Hour), End: t0.Add(25 * time.Hour), Kind: domain.OpBook, Outcome: domain.OutcomeConflict,
		Reason: "The time was taken.", WinnerID: "winner", CreatedAt: at}
}

func testSyncConflicts(t *testing.T, db store.DB) {
	ctx := context.Background()
	if list, err := db.ListSyncConflicts(ctx, false, 10); err != nil || len(list) != 0 {
		t.Fatalf("no conflicts = %+v, %v", list, err)
	}
	c1, c2 := conflictAt("c1", t0), conflictAt("c2", t0.Add(time.Minute))
	c2.WinnerID = ""
	for _, c := range []*domain.SyncConflict{c1, c2} {
		if err := db.PutSyncConflict(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.SyncConflictByID(ctx, "c1")
	if err != nil || got.NodeID != "node-1" || got.AppointmentID != "appt-c1" || !got.Start.Equal(c1.Start) || !got.End.Equal(c1.End) ||
		got.Kind != domain.OpBook || got.Outcome != domain.OutcomeConflict || got.WinnerID != "winner" || !got.CreatedAt.Equal(t0) ||
		!got.ResolvedAt.IsZero() || got.ResolvedBy != "" {
		t.Fatalf("conflict = %+v, %v", got, err)
	}
	_, err = db.SyncConflictByID(ctx, "missing")
	mustCode(t, err, domain.ENOTFOUND)
	list, _ := db.ListSyncConflicts(ctx, false, 10)
	if len(list) != 2 || list[0].ID != "c2" || list[1].ID != "c1" {
		t.Fatalf("list = %+v; want newest first", list)
	}
	if list, _ := db.ListSyncConflicts(ctx, false, 1); len(list) != 1 || list[0].ID != "c2" {
		t.Fatalf("limit 1 = %+v", list)
	}

	if err := db.ResolveSyncConflict(ctx, "c1", "desk-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.ResolveSyncConflict(ctx, "c1", "desk-2", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.ResolveSyncConflict(ctx, "missing", "desk", t0), domain.ENOTFOUND)
	got, _ = db.SyncConflictByID(ctx, "c1")
	if got.ResolvedBy != "desk-1" || !got.ResolvedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("resolved twice = %+v; the first resolution stands", got)
	}
	if open, _ := db.ListSyncConflicts(ctx, true, 10); len(open) != 1 || open[0].ID != "c2" {
		t.Fatalf("open = %+v", open)
	}

	// Put again (the same conflict pulled again): replaced, but still resolved.
	again := conflictAt("c1", t0)
	again.Reason = "Restated."
	if err := db.PutSyncConflict(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, _ = db.SyncConflictByID(ctx, "c1")
	if got.Reason != "Restated." || got.ResolvedBy != "desk-1" || !got.ResolvedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after a second put = %+v", got)
	}
	// A put carrying a resolution resolves an open one.
	resolved := conflictAt("c2", t0.Add(time.Minute))
	resolved.ResolvedBy, resolved.ResolvedAt = "upstream-desk", t0.Add(3*time.Hour)
	if err := db.PutSyncConflict(ctx, resolved); err != nil {
		t.Fatal(err)
	}
	if open, _ := db.ListSyncConflicts(ctx, true, 10); len(open) != 0 {
		t.Fatalf("open after a resolved put = %+v", open)
	}

	// Each put and the resolution wrote a change (not the second resolve).
	changes, _ := readChanges(t, db, "", 5)
	if len(changes) != 5 {
		t.Fatalf("%d changes, want 5: %+v", len(changes), changes)
	}
	for i, want := range []string{"c1", "c2", "c1", "c1", "c2"} {
		if changes[i].Entity != domain.ChangeEntityConflict || changes[i].EntityID != want {
			t.Fatalf("change %d = %+v, want conflict %s", i, changes[i], want)
		}
	}
}

// answer is the upstream's applied answer to op with the appointment's
// state there.
func answer(op *domain.SyncOp, state domain.Appointment, version string) *domain.SyncOpResult {
	return &domain.SyncOpResult{OpID: op.ID, EntityID: op.EntityID, Outcome: domain.OutcomeApplied, Version: version, Appointment: &state,
		At: t0.Add(time.Hour)}
}

func testQueuedOps(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "q")
	if n, oldest, err := db.OutboxStats(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty outbox stats = %d %v %v", n, oldest, err)
	}
	if ops, err := db.QueuedOps(ctx, 10); err != nil || len(ops) != 0 {
		t.Fatalf("empty outbox = %+v, %v", ops, err)
	}
	a := appt(d, p, t0.Add(24*time.Hour), 30)
	a.Status = domain.StatusPending
	op1 := &domain.SyncOp{Kind: domain.OpBook, ActorID: "desk", ActorRole: "staff", CreatedAt: t0}
	if err := db.BookAppointmentQueued(ctx, a, nil, op1); err != nil {
		t.Fatal(err)
	}
	if op1.ID == "" || op1.Seq == 0 || op1.BaseVersion != "" || op1.Entity != domain.ChangeEntityAppointment || op1.EntityID != a.ID ||
		op1.Appointment == nil || op1.Appointment.ID != a.ID || op1.Appointment.Status != domain.StatusPending {
		t.Fatalf("queued booking = %+v", op1)
	}
	update := func(change func(*domain.Appointment), at time.Time) *domain.SyncOp {
		t.Helper()
		cur, err := db.AppointmentByID(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		before := cur.UpdatedAt
		change(cur)
		cur.UpdatedAt = at
		op := &domain.SyncOp{Kind: domain.OpUpdate, ActorID: "desk", ActorRole: "staff", CreatedAt: at}
		if err := db.UpdateAppointmentQueued(ctx, cur, before, nil, op); err != nil {
			t.Fatal(err)
		}
		return op
	}
	// A change of an op still unanswered is made from that op's version.
	op2 := update(func(x *domain.Appointment) { x.Reason = "second" }, t0.Add(time.Minute))
	if op2.BaseVersion != "op:"+op1.ID || op2.Seq <= op1.Seq || op2.Appointment.Reason != "second" {
		t.Fatalf("second op = %+v; want base op:%s", op2, op1.ID)
	}
	op3 := update(func(x *domain.Appointment) { x.Reason = "third" }, t0.Add(2*time.Minute))
	if op3.BaseVersion != "op:"+op2.ID {
		t.Fatalf("third op base = %q; want op:%s", op3.BaseVersion, op2.ID)
	}
	ops, err := db.QueuedOps(ctx, 10)
	if err != nil || len(ops) != 3 {
		t.Fatalf("queued = %+v, %v", ops, err)
	}
	for i, want := range []*domain.SyncOp{op1, op2, op3} {
		got := ops[i]
		if got.ID != want.ID || got.Seq != want.Seq || got.BaseVersion != want.BaseVersion || got.Kind != want.Kind || got.EntityID != a.ID ||
			got.ActorID != "desk" || got.ActorRole != "staff" || !got.CreatedAt.Equal(want.CreatedAt) || got.Appointment == nil ||
			got.Appointment.Reason != want.Appointment.Reason {
			t.Fatalf("queued op %d = %+v, want %+v", i, got, want)
		}
	}
	if two, _ := db.QueuedOps(ctx, 2); len(two) != 2 || two[1].ID != op2.ID {
		t.Fatalf("QueuedOps(2) = %+v", two)
	}
	if n, oldest, err := db.OutboxStats(ctx); err != nil || n != 3 || !oldest.Equal(t0) {
		t.Fatalf("stats = %d %v %v", n, oldest, err)
	}

	// The answer to op1 does not overwrite the row: op2 and op3 are later.
	up := *a
	up.Status, up.UpdatedAt = domain.StatusBooked, t0.Add(10*time.Second)
	if err := db.AnswerSyncOp(ctx, answer(op1, up, "v1")); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.AppointmentByID(ctx, a.ID); got.Reason != "third" || got.Status != domain.StatusPending {
		t.Fatalf("answer overwrote a row with later ops: %+v", got)
	}
	// Still made from op3, which is unanswered.
	op4 := update(func(x *domain.Appointment) { x.Reason = "fourth" }, t0.Add(3*time.Minute))
	if op4.BaseVersion != "op:"+op3.ID {
		t.Fatalf("fourth op base = %q", op4.BaseVersion)
	}
	for i, op := range []*domain.SyncOp{op2, op3} {
		up.Reason, up.UpdatedAt = op.Appointment.Reason, t0.Add(time.Duration(20+i)*time.Second)
		if err := db.AnswerSyncOp(ctx, answer(op, up, fmt.Sprintf("v%d", i+2))); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.AppointmentByID(ctx, a.ID); got.Reason != "fourth" {
		t.Fatalf("answer overwrote a row with a later op: %+v", got)
	}
	// The last answer writes the upstream's state.
	final := up
	final.Reason, final.Status, final.UpdatedAt = "fourth", domain.StatusBooked, t0.Add(30*time.Second)
	if err := db.AnswerSyncOp(ctx, answer(op4, final, "v4")); err != nil {
		t.Fatal(err)
	}
	got, _ := db.AppointmentByID(ctx, a.ID)
	if got.Status != domain.StatusBooked || got.Reason != "fourth" || !got.UpdatedAt.Equal(final.UpdatedAt) {
		t.Fatalf("after the last answer = %+v", got)
	}
	if n, _, _ := db.OutboxStats(ctx); n != 0 {
		t.Fatalf("%d ops still queued", n)
	}
	// Answered: the next change is made from the upstream's version.
	op5 := update(func(x *domain.Appointment) { x.Reason = "fifth" }, t0.Add(4*time.Minute))
	if op5.BaseVersion != "v4" {
		t.Fatalf("base after answers = %q, want v4", op5.BaseVersion)
	}
	// Answering an answered op changes nothing.
	stale := final
	stale.Reason, stale.UpdatedAt = "stale", t0.Add(time.Second)
	if err := db.AnswerSyncOp(ctx, answer(op4, stale, "v-stale")); err != nil {
		t.Fatal(err)
	}
	if err := db.AnswerSyncOp(ctx, answer(&domain.SyncOp{ID: "never-queued"}, stale, "v-x")); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.AppointmentByID(ctx, a.ID); got.Reason != "fifth" {
		t.Fatalf("an answer again changed the row: %+v", got)
	}
	if err := db.AnswerSyncOp(ctx, answer(op5, final, "v5")); err != nil {
		t.Fatal(err)
	}
	op6 := update(func(x *domain.Appointment) { x.Reason = "sixth" }, t0.Add(5*time.Minute))
	if op6.BaseVersion != "v5" {
		t.Fatalf("base = %q, want v5 (not the stale answer's)", op6.BaseVersion)
	}

	// Without a version in the answer, the state's UpdatedAt is the version.
	st := final
	st.Reason, st.UpdatedAt = "sixth", t0.Add(40*time.Second)
	res := answer(op6, st, "")
	if err := db.AnswerSyncOp(ctx, res); err != nil {
		t.Fatal(err)
	}
	op7 := update(func(x *domain.Appointment) { x.Reason = "seventh" }, t0.Add(6*time.Minute))
	if op7.BaseVersion != st.UpdatedAt.Format(domain.AuditTimeFormat) {
		t.Fatalf("base = %q", op7.BaseVersion)
	}
}

func testQueuedOpsFailures(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "qf")
	a := appt(d, p, t0.Add(24*time.Hour), 60)
	a.IdempotencyKey = "key-1"
	first := &domain.SyncOp{ActorID: "desk", ActorRole: "staff"}
	if err := db.BookAppointmentQueued(ctx, a, nil, first); err != nil {
		t.Fatal(err)
	}
	if first.Kind != domain.OpBook || !first.CreatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("defaults of a queued booking: %+v", first)
	}
	// A repeated key replays the booking and queues nothing.
	dup := appt(d, p, t0.Add(48*time.Hour), 30)
	dup.IdempotencyKey = "key-1"
	err := db.BookAppointmentQueued(ctx, dup, nil, &domain.SyncOp{ActorID: "desk", ActorRole: "staff"})
	if !errors.Is(err, domain.ErrIdempotentReplay) || dup.ID != a.ID {
		t.Fatalf("repeated key = %v, %+v", err, dup)
	}
	// An overlap is refused and queues nothing.
	mustCode(t, db.BookAppointmentQueued(ctx, appt(d, p, t0.Add(24*time.Hour+30*time.Minute), 30), nil, &domain.SyncOp{}), domain.ECONFLICT)
	// A stale update is refused and queues nothing.
	stale := *a
	stale.Reason, stale.UpdatedAt = "stale", t0.Add(time.Hour)
	mustCode(t, db.UpdateAppointmentQueued(ctx, &stale, t0.Add(-time.Hour), nil, &domain.SyncOp{}), domain.ECONFLICT)
	// An update that overlaps is refused and queues nothing.
	b := appt(d, p, t0.Add(30*time.Hour), 30)
	if err := db.BookAppointment(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	moved := *b
	moved.Start, moved.End, moved.UpdatedAt = a.Start, a.End, t0.Add(time.Hour)
	mustCode(t, db.UpdateAppointmentQueued(ctx, &moved, b.UpdatedAt, nil, &domain.SyncOp{}), domain.ECONFLICT)
	ops, _ := db.QueuedOps(ctx, 10)
	if len(ops) != 1 || ops[0].ID != first.ID {
		t.Fatalf("queued after failures = %+v", ops)
	}
	// Plain writes queue nothing either.
	b.Reason, b.UpdatedAt = "plain", t0.Add(time.Hour)
	if err := db.UpdateAppointment(ctx, b, t0, nil); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := db.OutboxStats(ctx); n != 1 {
		t.Fatalf("%d queued after a plain update", n)
	}
	// The local idempotency key survives the upstream's state, which has none.
	up := *a
	up.IdempotencyKey, up.Status, up.UpdatedAt = "", domain.StatusBooked, t0.Add(time.Minute)
	if err := db.AnswerSyncOp(ctx, answer(first, up, "v1")); err != nil {
		t.Fatal(err)
	}
	if got, err := db.AppointmentByIdempotencyKey(ctx, a.CreatedBy, "key-1"); err != nil || got.ID != a.ID || !got.UpdatedAt.Equal(up.UpdatedAt) {
		t.Fatalf("by key after the answer = %+v, %v", got, err)
	}
}

func testAnswerRefused(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "ar")
	a := appt(d, p, t0.Add(24*time.Hour), 60)
	op := &domain.SyncOp{ActorID: "desk", ActorRole: "staff"}
	if err := db.BookAppointmentQueued(ctx, a, nil, op); err != nil {
		t.Fatal(err)
	}
	c := &domain.SyncConflict{NodeID: "me", AppointmentID: a.ID, DoctorID: d.ID, PatientID: p.ID, Start: a.Start, End: a.End,
		Kind: domain.OpBook, Outcome: domain.OutcomeConflict, Reason: "The time was taken.", WinnerID: "other", CreatedAt: t0.Add(time.Hour)}
	res := &domain.SyncOpResult{OpID: op.ID, EntityID: a.ID, Outcome: domain.OutcomeConflict, Reason: "The time was taken.", Conflict: c,
		At: t0.Add(time.Hour)}
	if err := db.AnswerSyncOp(ctx, res); err != nil {
		t.Fatal(err)
	}
	got, _ := db.AppointmentByID(ctx, a.ID)
	if got.Status != domain.StatusCancelled || got.CancelReason != "The time was taken." {
		t.Fatalf("refused booking = %+v; want cancelled with the reason", got)
	}
	if k, err := db.SyncConflictByID(ctx, op.ID); err != nil || k.WinnerID != "other" {
		t.Fatalf("conflict of the answer = %+v, %v", k, err)
	}
	// The refused booking holds no time: the slot can be booked again.
	if err := db.BookAppointment(ctx, appt(d, p, a.Start, 60), nil); err != nil {
		t.Fatalf("booking the freed time: %v", err)
	}

	// A refused update with no state leaves the row as it is.
	b := appt(d, p, t0.Add(48*time.Hour), 30)
	if err := db.BookAppointment(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	cur := *b
	cur.Reason, cur.UpdatedAt = "local change", t0.Add(time.Minute)
	upd := &domain.SyncOp{}
	if err := db.UpdateAppointmentQueued(ctx, &cur, b.UpdatedAt, nil, upd); err != nil {
		t.Fatal(err)
	}
	if err := db.AnswerSyncOp(ctx, &domain.SyncOpResult{OpID: upd.ID, Outcome: domain.OutcomeRejected, Reason: "no", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.AppointmentByID(ctx, b.ID); got.Status != domain.StatusBooked || got.Reason != "local change" {
		t.Fatalf("refused update changed the row: %+v", got)
	}

	// An answer whose state overlaps a local appointment is recorded; the
	// row stays as it was, and the version moves on.
	e := appt(d, p, t0.Add(72*time.Hour), 30)
	eop := &domain.SyncOp{}
	if err := db.BookAppointmentQueued(ctx, e, nil, eop); err != nil {
		t.Fatal(err)
	}
	blocker := appt(d, p, t0.Add(80*time.Hour), 60)
	if err := db.BookAppointment(ctx, blocker, nil); err != nil {
		t.Fatal(err)
	}
	there := *e
	there.Start, there.End, there.UpdatedAt = blocker.Start, blocker.End, t0.Add(time.Hour)
	if err := db.AnswerSyncOp(ctx, answer(eop, there, "v-there")); err != nil {
		t.Fatalf("an overlapping answer failed: %v", err)
	}
	if got, _ := db.AppointmentByID(ctx, e.ID); !got.Start.Equal(e.Start) {
		t.Fatalf("overlapping state written: %+v", got)
	}
	if n, _, _ := db.OutboxStats(ctx); n != 0 {
		t.Fatalf("%d ops unanswered", n)
	}
	next := &domain.SyncOp{}
	cur = *e
	cur.Reason, cur.UpdatedAt = "after", t0.Add(2*time.Hour)
	if err := db.UpdateAppointmentQueued(ctx, &cur, e.UpdatedAt, nil, next); err != nil {
		t.Fatal(err)
	}
	if next.BaseVersion != "v-there" {
		t.Fatalf("base = %q, want v-there", next.BaseVersion)
	}
}

func testPutSyncedAppointment(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "ps")
	u := appt(d, p, t0.Add(24*time.Hour), 30)
	u.ID, u.CreatedBy, u.UpdatedAt = "up-1", "upstream-desk", t0.Add(time.Minute)
	if ok, err := db.PutSyncedAppointment(ctx, u); err != nil || !ok {
		t.Fatalf("put = %v, %v", ok, err)
	}
	got, err := db.AppointmentByID(ctx, u.ID)
	if err != nil || got.CreatedBy != "upstream-desk" || !got.UpdatedAt.Equal(u.UpdatedAt) || !got.Start.Equal(u.Start) {
		t.Fatalf("synced = %+v, %v", got, err)
	}
	// Pulled again, changed.
	u2 := *u
	u2.Status, u2.CancelReason, u2.UpdatedAt = domain.StatusCancelled, "upstream cancelled", t0.Add(2*time.Minute)
	if ok, err := db.PutSyncedAppointment(ctx, &u2); err != nil || !ok {
		t.Fatalf("put again = %v, %v", ok, err)
	}
	if got, _ := db.AppointmentByID(ctx, u.ID); got.Status != domain.StatusCancelled || got.CancelReason != "upstream cancelled" {
		t.Fatalf("after second put = %+v", got)
	}
	// A local change is made from the version pulled.
	cur := u2
	cur.Status, cur.CancelReason, cur.UpdatedAt = domain.StatusBooked, "", t0.Add(3*time.Minute)
	op := &domain.SyncOp{}
	if err := db.UpdateAppointmentQueued(ctx, &cur, u2.UpdatedAt, nil, op); err != nil {
		t.Fatal(err)
	}
	if op.BaseVersion != u2.UpdatedAt.Format(domain.AuditTimeFormat) {
		t.Fatalf("base = %q", op.BaseVersion)
	}
	// While its op is unanswered, the pull skips the appointment.
	u3 := u2
	u3.Reason, u3.UpdatedAt = "upstream moved on", t0.Add(4*time.Minute)
	if ok, err := db.PutSyncedAppointment(ctx, &u3); err != nil || ok {
		t.Fatalf("put with an unanswered op = %v, %v; want skipped", ok, err)
	}
	if got, _ := db.AppointmentByID(ctx, u.ID); got.Reason == "upstream moved on" || got.Status != domain.StatusBooked {
		t.Fatalf("skipped put wrote: %+v", got)
	}
	if err := db.AnswerSyncOp(ctx, &domain.SyncOpResult{OpID: op.ID, Outcome: domain.OutcomeConflict, Reason: "changed", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.PutSyncedAppointment(ctx, &u3); err != nil || !ok {
		t.Fatalf("put after the answer = %v, %v", ok, err)
	}
	if got, _ := db.AppointmentByID(ctx, u.ID); got.Reason != "upstream moved on" || got.Status != domain.StatusCancelled {
		t.Fatalf("after the answer and pull = %+v", got)
	}
	// An overlap with a local appointment is a conflict.
	local := appt(d, p, t0.Add(48*time.Hour), 60)
	if err := db.BookAppointment(ctx, local, nil); err != nil {
		t.Fatal(err)
	}
	clashing := appt(d, p, t0.Add(48*time.Hour+30*time.Minute), 60)
	clashing.ID = "up-2"
	_, err = db.PutSyncedAppointment(ctx, clashing)
	mustCode(t, err, domain.ECONFLICT)
	if !strings.Contains(domain.ErrorMessage(err), local.Start.UTC().Format(time.RFC3339)) {
		t.Fatalf("overlap error = %v", err)
	}
	if _, err := db.AppointmentByID(ctx, "up-2"); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("overlapping synced appointment written: %v", err)
	}
}

func testPutSyncedReference(t *testing.T, db store.DB) {
	ctx := context.Background()
	acct := &domain.User{ID: "acct-up-1", Email: "dr.up@example.org", Name: "Dr Upstream", Role: domain.RoleDoctor, CreatedAt: t0, UpdatedAt: t0}
	doc := &domain.Doctor{ID: "doc-up-1", Specialization: "Cardiology", Qualifications: []string{"MD"}, LicenseNumber: "L-1", YearsExperience: 9,
		CreatedAt: t0, UpdatedAt: t0}
	hours := &domain.Availability{TimeZone: "Europe/Berlin", SlotMinutes: 20, Weekly: []domain.WeeklyHours{{Weekday: 1, Start: "09:00", End: "12:00"}},
		UpdatedAt: t0}
	if err := db.PutSyncedDoctor(ctx, &domain.SyncedDoctor{Doctor: doc, Account: acct}, hours); err != nil {
		t.Fatal(err)
	}
	got, err := db.DoctorByID(ctx, "doc-up-1")
	if err != nil || got.UserID != "acct-up-1" || got.Name != "Dr Upstream" || got.Specialization != "Cardiology" || got.YearsExperience != 9 {
		t.Fatalf("synced doctor = %+v, %v", got, err)
	}
	u, err := db.UserByID(ctx, "acct-up-1")
	if err != nil || u.Role != domain.RoleDoctor || u.PasswordHash != "!" || u.Email != "dr.up@example.org" {
		t.Fatalf("synced account = %+v, %v", u, err)
	}
	if av, err := db.Availability(ctx, "doc-up-1"); err != nil || av.SlotMinutes != 20 || av.TimeZone != "Europe/Berlin" {
		t.Fatalf("synced hours = %+v, %v", av, err)
	}
	if list, _ := db.ListDoctors(ctx, "cardiology"); len(list) != 1 {
		t.Fatalf("synced doctor not listed: %+v", list)
	}
	// Pulled again, changed, without hours: the hours stay.
	acct2 := *acct
	acct2.Name, acct2.UpdatedAt = "Dr Renamed", t0.Add(time.Hour)
	doc2 := *doc
	doc2.Specialization, doc2.UpdatedAt = "Neurology", t0.Add(time.Hour)
	if err := db.PutSyncedDoctor(ctx, &domain.SyncedDoctor{Doctor: &doc2, Account: &acct2}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DoctorByID(ctx, "doc-up-1"); got.Name != "Dr Renamed" || got.Specialization != "Neurology" {
		t.Fatalf("after second put = %+v", got)
	}
	if _, err := db.Availability(ctx, "doc-up-1"); err != nil {
		t.Fatalf("hours lost: %v", err)
	}
	// An account that exists here keeps its own password.
	local := newUser("local.doc@example.org", domain.RoleDoctor)
	local.PasswordHash = "real-hash"
	if err := db.CreateUser(ctx, local); err != nil {
		t.Fatal(err)
	}
	la := &domain.User{ID: local.ID, Email: local.Email, Name: "Dr Local", Role: domain.RoleDoctor, CreatedAt: t0, UpdatedAt: t0}
	if err := db.PutSyncedDoctor(ctx, &domain.SyncedDoctor{Doctor: &domain.Doctor{ID: "doc-up-2", Specialization: "GP", CreatedAt: t0, UpdatedAt: t0},
		Account: la}, nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := db.UserByID(ctx, local.ID); u.PasswordHash != "real-hash" || u.Name != "Dr Local" {
		t.Fatalf("existing account after sync = %+v", u)
	}
	mustCode(t, db.PutSyncedDoctor(ctx, &domain.SyncedDoctor{Doctor: doc}, nil), domain.EINVALID)

	// Patients come without their portal accounts; a local link stays.
	sp := &domain.Patient{ID: "pat-up-1", UserID: "acct-elsewhere", Name: "Synced Pat", DateOfBirth: "1970-01-01",
		Address: domain.Address{City: "Bonn"}, InsuranceMemberNumber: "sealed", CreatedAt: t0, UpdatedAt: t0}
	if err := db.PutSyncedPatient(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if got, err := db.PatientByID(ctx, "pat-up-1"); err != nil || got.UserID != "" || got.Address.City != "Bonn" || got.Name != "Synced Pat" {
		t.Fatalf("synced patient = %+v, %v", got, err)
	}
	owner := newUser("pat.local@example.org", domain.RolePatient)
	lp := &domain.Patient{Name: "Local Pat", DateOfBirth: "1980-01-01", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreatePatient(ctx, lp, owner, nil); err != nil {
		t.Fatal(err)
	}
	pulled := *lp
	pulled.UserID, pulled.Phone, pulled.UpdatedAt = "", "+1 555 0123", t0.Add(time.Hour)
	if err := db.PutSyncedPatient(ctx, &pulled); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.PatientByID(ctx, lp.ID); got.UserID != owner.ID || got.Phone != "+1 555 0123" {
		t.Fatalf("pulled over a local patient = %+v", got)
	}

	// Each put wrote its changes, for a clinic server's own nodes.
	want := []string{"doctor doc-up-1", "availability doc-up-1", "doctor doc-up-1", "doctor doc-up-2", "patient pat-up-1",
		"patient " + lp.ID, "patient " + lp.ID}
	changes, _ := readChanges(t, db, "", len(want))
	var seen []string
	for _, c := range changes {
		seen = append(seen, c.Entity+" "+c.EntityID)
	}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("changes = %v, want %v", seen, want)
	}
}

func testReferenceChanges(t *testing.T, db store.DB) {
	ctx := context.Background()
	hours := &domain.Availability{TimeZone: "UTC", SlotMinutes: 30, UpdatedAt: t0}
	d := &domain.Doctor{Specialization: "GP", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateDoctor(ctx, d, newUser("ref-doc@example.org", domain.RoleDoctor), hours); err != nil {
		t.Fatal(err)
	}
	bare := &domain.Doctor{Specialization: "GP", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateDoctor(ctx, bare, newUser("ref-doc2@example.org", domain.RoleDoctor), nil); err != nil {
		t.Fatal(err)
	}
	hours.SlotMinutes, hours.UpdatedAt = 15, t0.Add(time.Hour)
	if err := db.PutAvailability(ctx, hours); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.PutAvailability(ctx, &domain.Availability{DoctorID: "missing", UpdatedAt: t0}), domain.ENOTFOUND)
	p := &domain.Patient{Name: "Ref Pat", DateOfBirth: "1990-01-01", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreatePatient(ctx, p, nil, nil); err != nil {
		t.Fatal(err)
	}
	p.Phone, p.UpdatedAt = "+1 555 0100", t0.Add(time.Hour)
	if err := db.UpdatePatient(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.UpdatePatient(ctx, &domain.Patient{ID: "missing"}, nil), domain.ENOTFOUND)
	want := []string{"doctor " + d.ID, "availability " + d.ID, "doctor " + bare.ID, "availability " + d.ID, "patient " + p.ID, "patient " + p.ID}
	changes, cursor := readChanges(t, db, "", len(want))
	var seen []string
	for _, c := range changes {
		seen = append(seen, c.Entity+" "+c.EntityID)
	}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("changes = %v, want %v", seen, want)
	}
	if !changes[3].At.Equal(t0.Add(time.Hour)) {
		t.Fatalf("availability change at %v", changes[3].At)
	}
	// Refused writes wrote none.
	if page, err := db.Changes(ctx, cursor, 10); err != nil || len(page) != 0 {
		t.Fatalf("changes after refused writes: %+v, %v", page, err)
	}
}

func testSyncValues(t *testing.T, db store.DB) {
	ctx := context.Background()
	if v, err := db.SyncValue(ctx, "cursor"); v != "" || err != nil {
		t.Fatalf("absent = %q, %v", v, err)
	}
	for _, v := range []string{"1.5", "2.7"} {
		if err := db.SetSyncValue(ctx, "cursor", v); err != nil {
			t.Fatal(err)
		}
		if got, err := db.SyncValue(ctx, "cursor"); got != v || err != nil {
			t.Fatalf("value = %q, %v; want %q", got, err, v)
		}
	}
	if v, _ := db.SyncValue(ctx, "other"); v != "" {
		t.Fatalf("other key = %q", v)
	}
}

// lease is a lease of d's time to node, held for a week from t0.
func lease(d *domain.Doctor, node string, start time.Time, minutes int) *domain.SyncLease {
	return &domain.SyncLease{NodeID: node, DoctorID: d.ID, Start: start, End: start.Add(time.Duration(minutes) * time.Minute),
		ExpiresAt: t0.Add(7 * 24 * time.Hour), CreatedAt: t0}
}

// from is appt made by origin ("" for this installation's own people).
func from(origin string, a *domain.Appointment) *domain.Appointment {
	a.OriginNode = origin
	return a
}

func mustLeased(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrLeased) {
		t.Fatalf("error = %v, want ErrLeased", err)
	}
}

// readLeaseChanges pages through the changes until it has n of leases.
func readLeaseChanges(t *testing.T, db store.DB, n int) []domain.Change {
	t.Helper()
	var out []domain.Change
	cursor := ""
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		page, err := db.Changes(context.Background(), cursor, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			time.Sleep(10 * time.Millisecond) // older transactions still running (PostgreSQL)
			continue
		}
		for _, c := range page {
			if c.Entity == domain.ChangeEntityLease {
				out = append(out, c)
			}
		}
		cursor = page[len(page)-1].Cursor
	}
	return out
}

// changesThrough pages through the changes until the one of entityID.
func changesThrough(t *testing.T, db store.DB, entityID string) []domain.Change {
	t.Helper()
	var out []domain.Change
	cursor := ""
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		page, err := db.Changes(context.Background(), cursor, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			time.Sleep(10 * time.Millisecond) // older transactions still running (PostgreSQL)
			continue
		}
		for _, c := range page {
			out = append(out, c)
			if c.EntityID == entityID {
				return out
			}
		}
		cursor = page[len(page)-1].Cursor
	}
	t.Fatalf("no change of %s", entityID)
	return nil
}

func testLeaseAdmission(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "la")
	day := t0.Add(24 * time.Hour)
	// Booked before the lease, by this installation's own desk.
	pre := from("", appt(d, p, day.Add(30*time.Minute), 30))
	if err := db.BookAppointment(ctx, pre, nil); err != nil {
		t.Fatal(err)
	}
	outside := from("", appt(d, p, day.Add(6*time.Hour), 30))
	if err := db.BookAppointment(ctx, outside, nil); err != nil {
		t.Fatal(err)
	}
	l := lease(d, "node-a", day, 4*60)
	if err := db.GrantSyncLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	if l.ID == "" {
		t.Fatal("GrantSyncLease did not assign an id")
	}
	got, err := db.SyncLeaseByID(ctx, l.ID)
	if err != nil || got.NodeID != "node-a" || got.DoctorID != d.ID || !got.Start.Equal(l.Start) || !got.End.Equal(l.End) ||
		!got.ExpiresAt.Equal(l.ExpiresAt) || !got.CreatedAt.Equal(t0) || !got.ReleasedAt.IsZero() || !got.Active(t0) {
		t.Fatalf("lease = %+v, %v", got, err)
	}

	// Another origin's booking inside the lease, or reaching into it, is
	// refused and stores nothing; so is one from another node.
	for _, a := range []*domain.Appointment{
		from("", appt(d, p, day.Add(time.Hour), 30)),
		from("node-b", appt(d, p, day.Add(2*time.Hour), 30)),
		from("", appt(d, p, day.Add(-15*time.Minute), 30)),
		from("", appt(d, p, day.Add(4*time.Hour-15*time.Minute), 30)),
	} {
		mustLeased(t, db.BookAppointment(ctx, a, nil))
		if _, err := db.AppointmentByID(ctx, a.ID); !domain.IsCode(err, domain.ENOTFOUND) {
			t.Fatalf("a refused booking was stored: %v", err)
		}
	}
	queued := from("", appt(d, p, day.Add(3*time.Hour), 30))
	mustLeased(t, db.BookAppointmentQueued(ctx, queued, nil, &domain.SyncOp{}))
	if n, _, _ := db.OutboxStats(ctx); n != 0 {
		t.Fatalf("a refused booking queued %d ops", n)
	}
	// The holder's bookings are admitted, and keep their origin.
	mine := from("node-a", appt(d, p, day.Add(time.Hour), 30))
	if err := db.BookAppointment(ctx, mine, nil); err != nil {
		t.Fatalf("the holder's booking: %v", err)
	}
	if got, err := db.AppointmentByID(ctx, mine.ID); err != nil || got.OriginNode != "node-a" {
		t.Fatalf("holder's booking read back = %+v, %v", got, err)
	}
	// Right after the lease (half-open) is free for anyone.
	after := from("", appt(d, p, day.Add(4*time.Hour), 30))
	if err := db.BookAppointment(ctx, after, nil); err != nil {
		t.Fatalf("booking right after the lease: %v", err)
	}
	// A booking that holds no time may lie inside; it may not come to hold it.
	waiting := from("", appt(d, p, day.Add(2*time.Hour), 30))
	waiting.Status = domain.StatusCancelled
	if err := db.BookAppointment(ctx, waiting, nil); err != nil {
		t.Fatalf("a cancelled appointment inside the lease: %v", err)
	}
	revived := *waiting
	revived.Status, revived.UpdatedAt = domain.StatusBooked, t0.Add(time.Minute)
	mustLeased(t, db.UpdateAppointment(ctx, &revived, waiting.UpdatedAt, nil))

	// Moving another origin's appointment into the lease is refused; the
	// row stays as it was.
	moved := *outside
	moved.Start, moved.End, moved.UpdatedAt = day.Add(2*time.Hour), day.Add(2*time.Hour+30*time.Minute), t0.Add(time.Minute)
	mustLeased(t, db.UpdateAppointment(ctx, &moved, outside.UpdatedAt, nil))
	mustLeased(t, db.UpdateAppointmentQueued(ctx, &moved, outside.UpdatedAt, nil, &domain.SyncOp{}))
	if got, _ := db.AppointmentByID(ctx, outside.ID); !got.Start.Equal(outside.Start) || !got.UpdatedAt.Equal(outside.UpdatedAt) {
		t.Fatalf("refused move written: %+v", got)
	}
	if n, _, _ := db.OutboxStats(ctx); n != 0 {
		t.Fatalf("a refused move queued %d ops", n)
	}
	// Made by the holder (the update writes the origin), the move is admitted.
	moved.OriginNode = "node-a"
	if err := db.UpdateAppointment(ctx, &moved, outside.UpdatedAt, nil); err != nil {
		t.Fatalf("the holder's move into its lease: %v", err)
	}
	if got, _ := db.AppointmentByID(ctx, outside.ID); got.OriginNode != "node-a" || !got.Start.Equal(moved.Start) {
		t.Fatalf("after the holder's move = %+v", got)
	}

	// The appointment booked before the lease keeps its time: its status
	// and reason may change, but it may not move within the lease.
	arrived := *pre
	arrived.Status, arrived.Reason, arrived.UpdatedAt = domain.StatusArrived, "arrived early", t0.Add(time.Minute)
	if err := db.UpdateAppointment(ctx, &arrived, pre.UpdatedAt, nil); err != nil {
		t.Fatalf("booked -> arrived inside another's lease: %v", err)
	}
	shifted := arrived
	shifted.Start, shifted.End, shifted.UpdatedAt = arrived.Start.Add(time.Hour), arrived.End.Add(time.Hour), t0.Add(2*time.Minute)
	mustLeased(t, db.UpdateAppointment(ctx, &shifted, arrived.UpdatedAt, nil))

	// Releasing: only the holder's own active lease.
	mustCode(t, db.ReleaseSyncLease(ctx, l.ID, "node-b", t0.Add(time.Hour)), domain.ENOTFOUND)
	mustCode(t, db.ReleaseSyncLease(ctx, "missing", "node-a", t0.Add(time.Hour)), domain.ENOTFOUND)
	if err := db.ReleaseSyncLease(ctx, l.ID, "node-a", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.ReleaseSyncLease(ctx, l.ID, "node-a", t0.Add(2*time.Hour)), domain.ENOTFOUND)
	if got, _ := db.SyncLeaseByID(ctx, l.ID); !got.ReleasedAt.Equal(t0.Add(time.Hour)) || got.Active(t0.Add(time.Hour)) {
		t.Fatalf("released lease = %+v", got)
	}
	// Released, it admits anyone's booking and move.
	if err := db.BookAppointment(ctx, from("node-b", appt(d, p, day.Add(3*time.Hour), 30)), nil); err != nil {
		t.Fatalf("booking after the release: %v", err)
	}
	if err := db.UpdateAppointment(ctx, &shifted, arrived.UpdatedAt, nil); err != nil {
		t.Fatalf("move after the release: %v", err)
	}
	// The grant and the release each wrote a change.
	changes := readLeaseChanges(t, db, 2)
	if len(changes) != 2 || changes[0].EntityID != l.ID || changes[1].EntityID != l.ID || !changes[1].At.Equal(t0.Add(time.Hour)) {
		t.Fatalf("lease changes = %+v", changes)
	}
}

// testLeasePulled: state written from the upstream follows what it does
// for an overlap: a pulled appointment inside another holder's lease is a
// conflict, an answer's state there leaves the row as it is.
func testLeasePulled(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "lp")
	day := t0.Add(24 * time.Hour)
	held := from("", appt(d, p, day.Add(30*time.Minute), 30))
	held.ID, held.UpdatedAt = "up-held", t0.Add(time.Minute)
	if ok, err := db.PutSyncedAppointment(ctx, held); err != nil || !ok {
		t.Fatalf("put = %v, %v", ok, err)
	}
	// This installation's own lease, as its upstream lent it.
	l := lease(d, "", day, 4*60)
	l.ID = "lease-own"
	if err := db.PutSyncLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	// The appointment that held its time before, pulled again with a new
	// status, is written; moved within the lease, it is refused.
	arrived := *held
	arrived.Status, arrived.UpdatedAt = domain.StatusArrived, t0.Add(2*time.Minute)
	arrived.OriginNode = "node-b"
	if ok, err := db.PutSyncedAppointment(ctx, &arrived); err != nil || !ok {
		t.Fatalf("put of a status change inside the lease = %v, %v", ok, err)
	}
	if got, _ := db.AppointmentByID(ctx, held.ID); got.Status != domain.StatusArrived || got.OriginNode != "node-b" {
		t.Fatalf("after the pull = %+v", got)
	}
	moved := arrived
	moved.Start, moved.End, moved.UpdatedAt = day.Add(2*time.Hour), day.Add(2*time.Hour+30*time.Minute), t0.Add(3*time.Minute)
	_, err := db.PutSyncedAppointment(ctx, &moved)
	mustLeased(t, err)
	if got, _ := db.AppointmentByID(ctx, held.ID); !got.Start.Equal(held.Start) {
		t.Fatalf("refused pull written: %+v", got)
	}
	other := from("node-b", appt(d, p, day.Add(3*time.Hour), 30))
	other.ID = "up-other"
	_, err = db.PutSyncedAppointment(ctx, other)
	mustLeased(t, err)
	if _, err := db.AppointmentByID(ctx, other.ID); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("refused pull stored: %v", err)
	}
	// Local bookings (origin "") are this installation's: admitted.
	local := from("", appt(d, p, day.Add(time.Hour), 30))
	op := &domain.SyncOp{}
	if err := db.BookAppointmentQueued(ctx, local, nil, op); err != nil {
		t.Fatalf("a local booking inside the own lease: %v", err)
	}
	// An answer whose state lies elsewhere in the lease, made by another
	// origin, is recorded; the row stays as it was.
	there := *local
	there.Start, there.End, there.UpdatedAt, there.OriginNode = day.Add(2*time.Hour), day.Add(2*time.Hour+30*time.Minute), t0.Add(time.Hour), "node-b"
	if err := db.AnswerSyncOp(ctx, answer(op, there, "v-there")); err != nil {
		t.Fatalf("an answer inside another's lease failed: %v", err)
	}
	if got, _ := db.AppointmentByID(ctx, local.ID); !got.Start.Equal(local.Start) || got.OriginNode != "" {
		t.Fatalf("leased answer state written: %+v", got)
	}
	if n, _, _ := db.OutboxStats(ctx); n != 0 {
		t.Fatalf("%d ops unanswered", n)
	}
	// PutSyncLease replaces as sent: released upstream, released here.
	l.ReleasedAt = t0.Add(time.Hour)
	if err := db.PutSyncLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, err := db.SyncLeaseByID(ctx, l.ID); err != nil || !got.ReleasedAt.Equal(t0.Add(time.Hour)) || got.NodeID != "" {
		t.Fatalf("replaced lease = %+v, %v", got, err)
	}
	if ok, err := db.PutSyncedAppointment(ctx, other); err != nil || !ok {
		t.Fatalf("pull after the release = %v, %v", ok, err)
	}
	// A node's copy writes no change: none up to a booking made after.
	marker := from("", appt(d, p, day.Add(8*time.Hour), 30))
	if err := db.BookAppointment(ctx, marker, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range changesThrough(t, db, marker.ID) {
		if c.Entity == domain.ChangeEntityLease {
			t.Fatalf("PutSyncLease wrote a change: %+v", c)
		}
	}
	mustCode(t, db.PutSyncLease(ctx, &domain.SyncLease{NodeID: "x", DoctorID: d.ID, Start: day, End: day.Add(time.Hour), ExpiresAt: day}), domain.EINVALID)
}

func testLeaseOverlap(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, _ := clinic(t, db, "lo")
	d2, _ := clinic(t, db, "lo2")
	day := t0.Add(24 * time.Hour)
	l1 := lease(d, "node-a", day.Add(10*time.Hour), 120)
	if err := db.GrantSyncLease(ctx, l1); err != nil {
		t.Fatal(err)
	}
	refused := func(l *domain.SyncLease) {
		t.Helper()
		err := db.GrantSyncLease(ctx, l)
		mustCode(t, err, domain.ECONFLICT)
		if !strings.Contains(domain.ErrorMessage(err), "Another lease holds part of that time") {
			t.Fatalf("overlap message = %q", domain.ErrorMessage(err))
		}
	}
	refused(lease(d, "node-b", day.Add(11*time.Hour), 120))
	refused(lease(d, "node-a", day.Add(9*time.Hour), 90)) // the same holder too
	refused(lease(d, "node-b", day.Add(10*time.Hour+30*time.Minute), 30))
	mustCode(t, db.PutSyncLease(ctx, &domain.SyncLease{ID: "put-1", NodeID: "node-b", DoctorID: d.ID, Start: day.Add(11 * time.Hour),
		End: day.Add(13 * time.Hour), ExpiresAt: day, CreatedAt: t0}), domain.ECONFLICT)
	// Adjacent blocks, another doctor's time, and released copies are fine.
	for _, l := range []*domain.SyncLease{lease(d, "node-b", day.Add(12*time.Hour), 60), lease(d, "node-b", day.Add(9*time.Hour), 60),
		lease(d2, "node-b", day.Add(10*time.Hour), 120)} {
		if err := db.GrantSyncLease(ctx, l); err != nil {
			t.Fatalf("grant %+v: %v", l, err)
		}
	}
	released := &domain.SyncLease{ID: "put-2", NodeID: "node-c", DoctorID: d.ID, Start: day.Add(10 * time.Hour), End: day.Add(11 * time.Hour),
		ExpiresAt: day, CreatedAt: t0, ReleasedAt: t0.Add(time.Minute)}
	if err := db.PutSyncLease(ctx, released); err != nil {
		t.Fatalf("a released copy: %v", err)
	}
	// Made active again over an active lease, it is refused.
	released.ReleasedAt = time.Time{}
	mustCode(t, db.PutSyncLease(ctx, released), domain.ECONFLICT)
	// A lease replaced by itself does not overlap itself.
	again := *l1
	again.ExpiresAt = l1.ExpiresAt.Add(time.Hour)
	if err := db.PutSyncLease(ctx, &again); err != nil {
		t.Fatalf("a lease put over itself: %v", err)
	}
	if got, _ := db.SyncLeaseByID(ctx, l1.ID); !got.ExpiresAt.Equal(again.ExpiresAt) {
		t.Fatalf("replaced = %+v", got)
	}
	// Once released, its time may be lent again.
	if err := db.ReleaseSyncLease(ctx, l1.ID, "node-a", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.GrantSyncLease(ctx, lease(d, "node-b", day.Add(11*time.Hour), 60)); err != nil {
		t.Fatalf("grant after the release: %v", err)
	}
	mustCode(t, db.GrantSyncLease(ctx, &domain.SyncLease{NodeID: "n", DoctorID: "no-such-doctor", Start: day, End: day.Add(time.Hour),
		ExpiresAt: day, CreatedAt: t0}), domain.ENOTFOUND)
	mustCode(t, db.GrantSyncLease(ctx, &domain.SyncLease{NodeID: "n", DoctorID: d.ID, Start: day, End: day, ExpiresAt: day, CreatedAt: t0}),
		domain.EINVALID)
	if active, _ := db.ListSyncLeases(ctx, true, 100); len(active) != 4 {
		t.Fatalf("%d active leases, want 4: %+v", len(active), active)
	}
}

func testLeaseExpiry(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "le")
	day := t0.Add(24 * time.Hour)
	var ls []*domain.SyncLease
	for i := range 3 {
		l := lease(d, "node-a", day.Add(time.Duration(i)*time.Hour), 60)
		l.ExpiresAt = t0.Add(time.Duration(i+1) * time.Hour)
		if err := db.GrantSyncLease(ctx, l); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	if n, err := db.ExpireSyncLeases(ctx, t0.Add(30*time.Minute)); err != nil || n != 0 {
		t.Fatalf("expired early: %d, %v", n, err)
	}
	// Not after now: a lease that expires at now is expired.
	if n, err := db.ExpireSyncLeases(ctx, t0.Add(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("expired = %d, %v; want 2", n, err)
	}
	if n, err := db.ExpireSyncLeases(ctx, t0.Add(2*time.Hour)); err != nil || n != 0 {
		t.Fatalf("expired again = %d, %v", n, err)
	}
	for i, l := range ls {
		got, err := db.SyncLeaseByID(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 && (got.ReleasedAt.IsZero() || got.ReleasedAt.After(l.ExpiresAt) || got.Active(t0.Add(2*time.Hour))) {
			t.Fatalf("expired lease %d = %+v", i, got)
		}
		if i == 2 && !got.ReleasedAt.IsZero() {
			t.Fatalf("unexpired lease released: %+v", got)
		}
	}
	if active, err := db.ListSyncLeases(ctx, true, 10); err != nil || len(active) != 1 || active[0].ID != ls[2].ID {
		t.Fatalf("active = %+v, %v", active, err)
	}
	all, err := db.ListSyncLeases(ctx, false, 10)
	if err != nil || len(all) != 3 || all[0].ID != ls[0].ID || all[1].ID != ls[1].ID || all[2].ID != ls[2].ID {
		t.Fatalf("all = %+v, %v; want by start", all, err)
	}
	if two, _ := db.ListSyncLeases(ctx, false, 2); len(two) != 2 || two[1].ID != ls[1].ID {
		t.Fatalf("limit 2 = %+v", two)
	}
	// An expired lease admits anyone; the one still held does not.
	if err := db.BookAppointment(ctx, from("", appt(d, p, day, 30)), nil); err != nil {
		t.Fatalf("booking inside an expired lease: %v", err)
	}
	mustLeased(t, db.BookAppointment(ctx, from("", appt(d, p, day.Add(2*time.Hour), 30)), nil))
	// The holder can no longer release an expired lease.
	mustCode(t, db.ReleaseSyncLease(ctx, ls[0].ID, "node-a", t0.Add(3*time.Hour)), domain.ENOTFOUND)
	// Three grants and two expiries wrote changes.
	if changes := readLeaseChanges(t, db, 5); len(changes) != 5 {
		t.Fatalf("lease changes = %+v", changes)
	}
}

func testLeaseCovering(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, _ := clinic(t, db, "lc")
	d2, _ := clinic(t, db, "lc2")
	day := t0.Add(24 * time.Hour)
	l := lease(d, "node-a", day.Add(10*time.Hour), 4*60)
	if err := db.GrantSyncLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	own := lease(d2, "", day.Add(10*time.Hour), 60)
	own.ID = "lease-own"
	if err := db.PutSyncLease(ctx, own); err != nil {
		t.Fatal(err)
	}
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	for _, c := range []struct {
		node, doctor string
		start, end   time.Time
		want         string
	}{
		{"node-a", d.ID, at(10, 0), at(14, 0), l.ID},
		{"node-a", d.ID, at(11, 0), at(11, 30), l.ID},
		{"node-a", d.ID, at(13, 30), at(14, 0), l.ID},
		{"node-a", d.ID, at(9, 30), at(10, 30), ""},
		{"node-a", d.ID, at(13, 30), at(14, 30), ""},
		{"node-b", d.ID, at(11, 0), at(11, 30), ""},
		{"node-a", d2.ID, at(10, 0), at(10, 30), ""},
		{"", d2.ID, at(10, 0), at(10, 30), own.ID},
		{"", d.ID, at(10, 0), at(10, 30), ""},
	} {
		got, err := db.LeaseCovering(ctx, c.node, c.doctor, c.start, c.end)
		switch {
		case c.want == "":
			mustCode(t, err, domain.ENOTFOUND)
		case err != nil || got.ID != c.want || got.NodeID != c.node || !got.Start.Before(got.End):
			t.Fatalf("covering %s %v-%v = %+v, %v; want %s", c.node, c.start, c.end, got, err, c.want)
		}
	}
	if err := db.ReleaseSyncLease(ctx, l.ID, "node-a", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := db.LeaseCovering(ctx, "node-a", d.ID, at(11, 0), at(11, 30))
	mustCode(t, err, domain.ENOTFOUND)
	_, err = db.SyncLeaseByID(ctx, "missing")
	mustCode(t, err, domain.ENOTFOUND)
}

func testSyncOpLeased(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "ol")
	day := t0.Add(24 * time.Hour)
	before := from("", appt(d, p, day.Add(6*time.Hour), 30))
	if err := db.BookAppointment(ctx, before, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.GrantSyncLease(ctx, lease(d, "node-a", day, 4*60)); err != nil {
		t.Fatal(err)
	}
	// node-1's booking inside node-a's lease: ErrLeased, and nothing stored.
	a := from("node-1", appt(d, p, day.Add(time.Hour), 30))
	res, w := upstreamBooking("op-leased", a)
	w.Notes = []*domain.Notification{{UserID: d.UserID, Kind: domain.NotifyBooked, Subject: "s", Body: "b", CreatedAt: t0}}
	w.Conflict = &domain.SyncConflict{NodeID: "node-1", Kind: domain.OpBook, Outcome: domain.OutcomeConflict, Reason: "r", CreatedAt: t0}
	mustLeased(t, db.ApplySyncOp(ctx, res, w))
	if _, err := db.SyncOpResult(ctx, "op-leased"); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("the op of a leased write was kept: %v", err)
	}
	if _, err := db.AppointmentByID(ctx, a.ID); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("the leased appointment was written: %v", err)
	}
	if notes, _ := db.ListNotifications(ctx, d.UserID, 10); len(notes) != 0 {
		t.Fatalf("notes of a leased write: %d", len(notes))
	}
	if cs, _ := db.ListSyncConflicts(ctx, false, 10); len(cs) != 0 {
		t.Fatalf("conflict of a leased write: %+v", cs)
	}
	// An update op moving an appointment into the lease: the same.
	moved := *before
	moved.Start, moved.End, moved.UpdatedAt, moved.OriginNode = day.Add(2*time.Hour), day.Add(2*time.Hour+30*time.Minute), t0.Add(time.Minute), "node-1"
	upd := &domain.SyncOpResult{OpID: "op-move", NodeID: "node-1", EntityID: before.ID, Outcome: domain.OutcomeApplied, Appointment: &moved, At: t0}
	mustLeased(t, db.ApplySyncOp(ctx, upd, domain.SyncWrite{Appointment: &moved, Expect: before.UpdatedAt}))
	if got, _ := db.AppointmentByID(ctx, before.ID); !got.Start.Equal(before.Start) || got.OriginNode != "" {
		t.Fatalf("leased move written: %+v", got)
	}
	if _, err := db.SyncOpResult(ctx, "op-move"); !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("the op of a leased move was kept: %v", err)
	}
	// The op is then answered as a conflict, as the upstream does.
	res.Outcome, res.Appointment = domain.OutcomeConflict, nil
	if err := db.ApplySyncOp(ctx, res, domain.SyncWrite{Conflict: w.Conflict}); err != nil {
		t.Fatal(err)
	}
	// The holder's op is applied, with its origin.
	mine := from("node-a", appt(d, p, day.Add(time.Hour), 30))
	mres, mw := upstreamBooking("op-holder", mine)
	mres.NodeID = "node-a"
	if err := db.ApplySyncOp(ctx, mres, mw); err != nil {
		t.Fatalf("the holder's op: %v", err)
	}
	if got, err := db.AppointmentByID(ctx, mine.ID); err != nil || got.OriginNode != "node-a" {
		t.Fatalf("holder's applied booking = %+v, %v", got, err)
	}
}

// testLeaseRace: grants of leases and bookings of another origin race over
// one doctor's day. A grant may lend time that appointments already hold
// (the holder is told which, by reading the block after the grant, as the
// upstream does), but a booking must never land inside a lease granted
// before it committed: every foreign appointment inside an active lease at
// the end was there to read right after that lease was granted. Without
// the doctor's lock in the lease trigger, PostgreSQL fails this (a booking
// checks for leases, a grant commits and reads the block, the booking
// commits); the bookings are queued with a note, so that their
// transactions last a little, and everyone starts at a random moment of a
// few milliseconds, so that grants fall among the bookings.
func testLeaseRace(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "lr")
	const hours, granters, bookers = 8, 16, 32
	for round := range 5 {
		day := t0.Add(time.Duration(round+1) * 24 * time.Hour)
		var mu sync.Mutex
		seen := map[string]map[string]bool{} // lease id -> appointments read after its grant
		var granted, overlapped, booked, leased atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range granters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				time.Sleep(rand.N(5 * time.Millisecond)) // spread among the bookings
				l := lease(d, fmt.Sprintf("node-%d", i), day.Add(time.Duration(i%hours)*time.Hour), 60)
				err := db.GrantSyncLease(ctx, l)
				switch {
				case err == nil:
					granted.Add(1)
				case domain.IsCode(err, domain.ECONFLICT):
					overlapped.Add(1)
					return
				default:
					t.Error(err)
					return
				}
				list, err := db.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: d.ID, From: l.Start, To: l.End})
				if err != nil {
					t.Error(err)
					return
				}
				ids := map[string]bool{}
				for _, a := range list {
					ids[a.ID] = true
				}
				mu.Lock()
				seen[l.ID] = ids
				mu.Unlock()
			}()
		}
		for j := range bookers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				time.Sleep(rand.N(5 * time.Millisecond))
				origin := ""
				if j%2 == 1 {
					origin = "node-x"
				}
				a := from(origin, appt(d, p, day.Add(time.Duration(j)*15*time.Minute), 15))
				note := &domain.Notification{UserID: d.UserID, Kind: domain.NotifyBooked, Subject: "Booked", Body: "b", CreatedAt: t0}
				err := db.BookAppointmentQueued(ctx, a, []*domain.Notification{note}, &domain.SyncOp{ActorID: "desk", ActorRole: "staff"})
				switch {
				case err == nil:
					booked.Add(1)
				case errors.Is(err, domain.ErrLeased):
					leased.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if granted.Load() != hours || overlapped.Load() != granters-hours || booked.Load()+leased.Load() != bookers {
			t.Fatalf("round %d: granted=%d overlapped=%d booked=%d leased=%d", round, granted.Load(), overlapped.Load(), booked.Load(), leased.Load())
		}
		active, err := db.ListSyncLeases(ctx, true, 100)
		if err != nil {
			t.Fatal(err)
		}
		var mine int
		for _, l := range active {
			if l.DoctorID != d.ID || !l.Start.Before(day.Add(24*time.Hour)) || l.Start.Before(day) {
				continue
			}
			mine++
			ids, ok := seen[l.ID]
			if !ok {
				t.Fatalf("active lease %s was not granted in round %d", l.ID, round)
			}
			inside, err := db.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: d.ID, From: l.Start, To: l.End})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range inside {
				if domain.Blocks(a.Status) && a.OriginNode != l.NodeID && !ids[a.ID] {
					t.Errorf("round %d: appointment %s of origin %q (%v) holds time inside lease %s of %s, granted before it committed",
						round, a.ID, a.OriginNode, a.Start, l.ID, l.NodeID)
				}
			}
		}
		if mine != hours {
			t.Fatalf("round %d: %d active leases, want %d", round, mine, hours)
		}
	}
}
