package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// A patient purged at the upstream is removed from a node that holds a
// copy: the node pulls the deletion, purges its copy and pseudonymises its
// own audit events about them; both chains still verify and the node's log
// keeps shipping.
func TestPurgeReachesTheNode(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run("upstream-"+eng.Name, func(t *testing.T) {
			dbURL, dataDir := eng.URL(t)
			_, patientID := seedClinic(t, dataDir, dbURL, "clinic.example", "")
			_, upURL := startChild(t, map[string]string{"HEALTHHUB_DATA_DIR": dataDir, "HEALTHHUB_DATABASE_URL": dbURL, "HEALTHHUB_ARGON2_MEMORY_KIB": "64",
				"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_LOG_LEVEL": "warn"})
			upAdmin := &client{t: t, base: upURL, token: httpLogin(t, upURL, "admin@clinic.example")}

			var code struct {
				Code string `json:"code"`
			}
			if st := upAdmin.do("POST", "/api/v1/sync/enrollments", map[string]any{"name": "ws-a"}, &code); st != 201 {
				t.Fatalf("enrolment code: %d", st)
			}
			vars := testEnv(t, "")
			vars["HEALTHHUB_SYNC_INTERVAL"] = "200ms"
			for _, acct := range []string{"desk", "admin"} {
				role := map[string]string{"desk": "staff", "admin": "admin"}[acct]
				if out, err := run(t, vars, "correct horse battery", "user", "create", "--email", acct+"@ws-a.example", "--role", role, "--password-stdin"); err != nil {
					t.Fatalf("node account: %v %s", err, out)
				}
			}
			if out, err := run(t, vars, "", "sync", "enroll", "--upstream", upURL, "--code", code.Code, "--name", "ws-a"); err != nil {
				t.Fatalf("enrol: %v %s", err, out)
			}
			_, nodeURL := startChild(t, vars)
			desk := &client{t: t, base: nodeURL, token: httpLogin(t, nodeURL, "desk@ws-a.example")}
			admin := &client{t: t, base: nodeURL, token: httpLogin(t, nodeURL, "admin@ws-a.example")}
			eventually(t, "the node pulls the patient", func() bool {
				return desk.do("GET", "/api/v1/patients/"+patientID, nil, &struct{}{}) == 200
			})
			type events struct {
				Events []struct {
					Seq       int64  `json:"seq"`
					PatientID string `json:"patient_id"`
					Outcome   string `json:"outcome"`
				} `json:"events"`
			}
			var named events
			if st := admin.do("GET", "/api/v1/audit/events?patient_id="+patientID, nil, &named); st != 200 || len(named.Events) == 0 {
				t.Fatalf("the node's events about the patient: %d, %d", st, len(named.Events))
			}
			var before int64
			for _, e := range named.Events {
				before = max(before, e.Seq)
			}

			// The upstream purges the patient (as its retention run does
			// once their last contact is past the period).
			up, err := store.Open(context.Background(), dbURL, dataDir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := up.PurgePatient(context.Background(), patientID, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "pn-upstream", time.Now())
			up.Close()
			if err != nil || got.Patients != 1 {
				t.Fatalf("purge at the upstream: %+v, %v", got, err)
			}

			eventually(t, "the node removes its copy", func() bool {
				return desk.do("GET", "/api/v1/patients/"+patientID, nil, &struct{}{}) == 404
			})
			// Only the lookups made after the purge (not found) name the
			// identifier; every event from before is pseudonymised.
			named.Events = nil
			if st := admin.do("GET", "/api/v1/audit/events?patient_id="+patientID, nil, &named); st != 200 {
				t.Fatalf("events naming the purged patient at the node: %d", st)
			}
			for _, e := range named.Events {
				if e.Seq <= before {
					t.Fatalf("event %d from before the purge still names the patient: %+v", e.Seq, e)
				}
			}
			var purges struct {
				Events []struct {
					Detail  string `json:"detail"`
					ActorID string `json:"actor_id"`
				} `json:"events"`
			}
			if st := admin.do("GET", "/api/v1/audit/events?resource_type=retention", nil, &purges); st != 200 || len(purges.Events) != 1 ||
				!strings.Contains(purges.Events[0].Detail, "source=upstream patients=1 ") || purges.Events[0].ActorID != domain.System.UserID {
				t.Fatalf("the node's record of the purge: %d %+v", st, purges.Events)
			}
			for _, c := range []*client{admin, upAdmin} {
				var rep struct {
					OK bool `json:"ok"`
				}
				if st := c.do("GET", "/api/v1/audit/verify", nil, &rep); st != 200 || !rep.OK {
					t.Fatalf("audit verify at %s: %d %+v", c.base, st, rep)
				}
			}
			// The node's log, pseudonymised events included, reaches the
			// upstream whole.
			var st syncStatus
			eventually(t, "the node ships its log", func() bool {
				admin.do("GET", "/api/v1/sync/status", nil, &st)
				return st.AuditShipped == st.AuditLocal && st.State != "offline" && st.LastError == ""
			})
		})
	}
}
