package emergency_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/emergency"
	"github.com/healthhub/healthhub/backend/store/sqlite"
)

type noReauth struct{}

func (noReauth) Reauthenticate(context.Context, *domain.Principal, string, string) error { return nil }

// A node's batch is shown to the service each time it arrives; a batch sent
// again (the node missed the answer) or a grant seen twice stores one grant
// and raises one notice per privacy officer.
func TestAuditShippedRaisesOnce(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "up.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.NewLog(db, time.Now, logger)
	t.Cleanup(log.Close)
	svc := emergency.New(db, noReauth{}, log, nil, time.Now, logger)
	var officers []*domain.User
	for _, u := range []*domain.User{
		{Email: "admin@up.example", Name: "Admin", Role: domain.RoleAdmin},
		{Email: "privacy@up.example", Name: "Privacy", Role: domain.RoleStaff},
		{Email: "desk@up.example", Name: "Desk", Role: domain.RoleStaff},
	} {
		u.PasswordHash, u.CreatedAt, u.UpdatedAt = "x", time.Now(), time.Now()
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		officers = append(officers, u)
	}
	if err := db.SetPrivacyOfficer(ctx, officers[1].ID, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 23, 5, 0, 0, time.UTC)
	grantID := "0190a000-0000-7000-8000-0000000000aa"
	batch := []*domain.AuditEvent{
		{Seq: 1, Time: at, ActorID: "node-doc", ActorRole: "doctor", Action: domain.ActionRead, ResourceType: "patient", PatientID: "p1",
			Outcome: domain.OutcomeDenied},
		{Seq: 2, Time: at, ActorID: "node-doc", ActorRole: "doctor", Action: domain.ActionCreate, ResourceType: "emergency_access", ResourceID: grantID,
			PatientID: "p1", Outcome: domain.OutcomeSuccess,
			Detail: "emergency_access grant=" + grantID + " reason=urgent_treatment expires=2026-03-02T03:05:00Z escalated=true"},
		// Unreadable or not a grant: skipped, never fatal to the batch.
		{Seq: 3, Time: at, ActorID: "node-doc", Action: domain.ActionCreate, ResourceType: "emergency_access", Outcome: domain.OutcomeSuccess, Detail: "garbage"},
		{Seq: 4, Time: at, ActorID: "node-doc", Action: domain.ActionRead, ResourceType: "patient", PatientID: "p1", Outcome: domain.OutcomeSuccess,
			Detail: "emergency_access grant=" + grantID},
	}
	node := &domain.SyncNode{ID: "node-1", Name: "Night workstation"}
	for range 3 {
		if err := svc.AuditShipped(ctx, node, batch); err != nil {
			t.Fatal(err)
		}
	}
	g, err := db.EmergencyGrant(ctx, grantID)
	if err != nil {
		t.Fatal(err)
	}
	if g.NodeID != "node-1" || g.UserID != "node-doc" || g.PatientID != "p1" || !g.CreatedAt.Equal(at) || !g.ExpiresAt.Equal(at.Add(4*time.Hour)) ||
		!g.Escalated || g.Reason != "urgent_treatment" || g.ReviewStatus != domain.ReviewPending {
		t.Fatalf("grant from the node = %+v", g)
	}
	if all, _ := db.ListEmergencyGrants(ctx, domain.EmergencyFilter{}); len(all) != 1 {
		t.Fatalf("%d grants stored, want 1", len(all))
	}
	for i, u := range officers {
		ns, err := db.ListNotifications(ctx, u.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if i == 2 {
			want = 0 // the front desk is not a privacy officer
		}
		kinds := map[string]int{}
		for _, n := range ns {
			kinds[n.Kind]++
		}
		if kinds["emergency_access"] != want || kinds["emergency_access_escalated"] != want {
			t.Errorf("%s's notices: %v, want %d of each", u.Email, kinds, want)
		}
	}
}
