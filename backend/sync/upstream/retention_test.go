package upstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// A patient purged at the upstream reaches its nodes as a deletion, and the
// copies of the nodes' audit logs it holds are pseudonymised like its own:
// the node's events keep their hashes, so the node's next batches, and a
// batch sent again with the events as the node still has them, are
// accepted; tampering with a pseudonymised copy is still refused.
func TestPurgedPatientAtTheUpstream(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, eng)
			ctx := context.Background()
			n := w.enroll("hh-test1")
			op := bookOp(w.doctors[0].ID, w.patient.ID, at(9, 0), 30)
			if r := w.apply(n, op)[0]; r.Outcome != domain.OutcomeApplied {
				t.Fatalf("booking: %+v", r)
			}
			evs := nodeLog(40)
			for _, e := range evs[:20] { // the node's events name the patient
				e.PatientID, e.ResourceID = w.patient.ID, w.patient.ID
			}
			domainChain(evs)
			if _, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 0, 30, n.signer)); err != nil {
				t.Fatal(err)
			}
			page, err := w.svc.Changes(n.ctx, n.SyncNode, "", 0)
			if err != nil {
				t.Fatal(err)
			}

			got, err := w.db.PurgePatient(ctx, w.patient.ID, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "pn-0011", w.clock.now())
			if err != nil || got.Patients != 1 || got.Appointments != 1 || got.AuditPseudonymised < 20 {
				t.Fatalf("purge: %+v, %v", got, err)
			}
			// Rows of transactions still running elsewhere (other tests on
			// the same PostgreSQL) come once those end.
			deleted := map[string]bool{}
			var seen []upstream.Change
			for cursor, deadline := page.Next, time.Now().Add(30*time.Second); !deleted["patient/"+w.patient.ID] || !deleted["appointment/"+op.EntityID]; {
				if time.Now().After(deadline) {
					t.Fatalf("changes after the purge: %+v", seen)
				}
				after, err := w.svc.Changes(n.ctx, n.SyncNode, cursor, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(after.Changes) == 0 {
					time.Sleep(10 * time.Millisecond) // the deadline bounds it
					continue
				}
				for _, c := range after.Changes {
					seen = append(seen, c)
					if !c.Deleted || c.Appointment != nil || c.Patient != nil {
						t.Fatalf("a change after the purge: %+v", c)
					}
					deleted[c.Entity+"/"+c.EntityID] = true
				}
				cursor = after.Next
			}

			held, err := w.db.SyncAuditEvents(ctx, n.ID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range held[:20] {
				if e.PatientID != "pn-0011" || e.ResourceID != "pn-0011" || !e.Redacted || e.PatientSalt != "" || !e.Intact() {
					t.Fatalf("held copy after the purge: %+v", e)
				}
			}
			// A batch sent again carries events the upstream has
			// pseudonymised, as the node still holds them; then the node
			// goes on.
			if ack, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 10, 30, n.signer)); err != nil || ack.Size != 30 || ack.Redelivery != 20 {
				t.Fatalf("batch sent again after the pseudonymisation: %+v, %v", ack, err)
			}
			if ack, err := w.svc.AcceptAudit(n.ctx, n.SyncNode, batch(t, evs, 30, 40, n.signer)); err != nil || ack.Size != 40 || ack.New != 10 {
				t.Fatalf("next batch after the pseudonymisation: %+v, %v", ack, err)
			}
			if w.svc.Alerts() != 0 {
				t.Fatalf("%d alerts", w.svc.Alerts())
			}
			// The one change the copy admits was made; any other is refused.
			raw := w.db.(storetest.Raw)
			for _, q := range []string{
				`UPDATE sync_node_audit SET detail = 'edited' WHERE seq = 3`,
				`UPDATE sync_node_audit SET patient_id = 'pn-other' WHERE seq = 3`,
				`UPDATE sync_node_audit SET patient_id = 'someone', redacted = ` + boolSQL(eng.Name) + `, patient_salt = '' WHERE seq = 25`,
				`DELETE FROM sync_node_audit WHERE seq = 1`,
			} {
				if err := raw.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Fatalf("%s: %v", q, err)
				}
			}
		})
	}
}

func boolSQL(engine string) string {
	if engine == "postgres" {
		return "true"
	}
	return "1"
}

// domainChain chains evs again after their content changed.
func domainChain(evs []*domain.AuditEvent) { domain.Chain(0, "", evs) }
