package server_test

import (
	"testing"

	"github.com/healthhub/healthhub/backend/store/storetest"
)

type notes struct {
	Notifications []struct {
		Kind    string `json:"kind"`
		Subject string `json:"subject"`
		Body    string `json:"body"`
	} `json:"notifications"`
}

func (n notes) count(kind string) int {
	c := 0
	for _, x := range n.Notifications {
		if x.Kind == kind {
			c++
		}
	}
	return c
}

type reviewList struct {
	Grants []struct {
		ID        string `json:"id"`
		NodeID    string `json:"node_id"`
		PatientID string `json:"patient_id"`
		Reason    string `json:"reason"`
		Details   string `json:"details"`
	} `json:"grants"`
}

// TestEmergencyAccessOfflineThenSynced: a doctor at a workstation cut off
// from its upstream gets emergency access to a patient's record there; the
// workstation's own admin is told at once. When the network heals, the
// grant travels up with the audit log, the upstream's admin is told exactly
// once (more sync rounds raise nothing again), and the grant is on the
// upstream's review list without the doctor's free-text details.
func TestEmergencyAccessOfflineThenSynced(t *testing.T) {
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
			if st := upAdmin.do("POST", "/api/v1/sync/enrollments", map[string]any{"name": "ws-er"}, &code); st != 201 {
				t.Fatalf("enrolment code: %d", st)
			}
			proxy := newFaultProxy(t, "ws-er", upURL)
			vars := testEnv(t, "")
			vars["HEALTHHUB_SYNC_INTERVAL"] = "200ms"
			for _, args := range [][]string{{"--email", "admin@ws-er.example", "--role", "admin"},
				{"--email", "dr@ws-er.example", "--role", "doctor", "--specialization", "Emergency medicine"}} {
				if out, err := run(t, vars, "correct horse battery", append(append([]string{"user", "create"}, args...), "--password-stdin")...); err != nil {
					t.Fatalf("node account: %v %s", err, out)
				}
			}
			if out, err := run(t, vars, "", "sync", "enroll", "--upstream", proxy.URL(), "--code", code.Code, "--name", "ws-er"); err != nil {
				t.Fatalf("enrol: %v %s", err, out)
			}
			_, url := startChild(t, vars)
			admin := &client{t: t, base: url, token: httpLogin(t, url, "admin@ws-er.example")}
			doctor := &client{t: t, base: url, token: httpLogin(t, url, "dr@ws-er.example")}
			eventually(t, "the node pulls the patient", func() bool {
				return admin.do("GET", "/api/v1/patients/"+patientID, nil, &struct{}{}) == 200
			})

			// Cut off. The doctor does not treat the patient; emergency
			// access opens the record on the workstation alone.
			proxy.partition()
			var st syncStatus
			eventually(t, "the node notices it is offline", func() bool {
				admin.do("GET", "/api/v1/sync/status", nil, &st)
				return st.State == "offline"
			})
			if got := doctor.do("GET", "/api/v1/patients/"+patientID, nil, nil); got != 403 {
				t.Fatalf("before emergency access: %d", got)
			}
			var grant struct {
				ID string `json:"id"`
			}
			if got := doctor.do("POST", "/api/v1/emergency-access", map[string]any{"patient_id": patientID, "reason": "life_threatening",
				"details": "Found unconscious at the door", "password": "correct horse battery"}, &grant); got != 201 {
				t.Fatalf("emergency access offline: %d", got)
			}
			for _, path := range []string{"/api/v1/patients/" + patientID, "/api/v1/patients/" + patientID + "/entries"} {
				if got := doctor.do("GET", path, nil, &struct{}{}); got != 200 {
					t.Fatalf("GET %s under emergency access offline: %d", path, got)
				}
			}
			var local notes
			if admin.do("GET", "/api/v1/notifications", nil, &local); local.count("emergency_access") != 1 {
				t.Fatalf("the workstation's admin was not told: %+v", local)
			}
			var up notes
			if upAdmin.do("GET", "/api/v1/notifications", nil, &up); up.count("emergency_access") != 0 {
				t.Fatalf("the upstream heard of it while cut off: %+v", up)
			}

			// Back online: the audit log, and the grant with it, reach the
			// upstream; its admin is told once.
			proxy.heal()
			eventually(t, "the node's audit log reaches the upstream", func() bool {
				admin.do("GET", "/api/v1/sync/status", nil, &st)
				return st.State != "offline" && st.AuditLocal > 0 && st.AuditShipped == st.AuditLocal
			})
			eventually(t, "the upstream's admin is told", func() bool {
				up = notes{}
				upAdmin.do("GET", "/api/v1/notifications", nil, &up)
				return up.count("emergency_access") > 0
			})
			// More rounds, with more events of the node's, raise nothing again.
			shipped := st.AuditShipped
			for range 2 {
				doctor.do("GET", "/api/v1/patients/"+patientID, nil, &struct{}{})
				if got := admin.do("POST", "/api/v1/sync/run", nil, &st); got != 200 {
					t.Fatalf("sync run: %d", got)
				}
			}
			eventually(t, "the later events reach the upstream", func() bool {
				admin.do("GET", "/api/v1/sync/status", nil, &st)
				return st.AuditShipped > shipped && st.AuditShipped == st.AuditLocal
			})
			up = notes{}
			if upAdmin.do("GET", "/api/v1/notifications", nil, &up); up.count("emergency_access") != 1 {
				t.Fatalf("upstream admin's emergency access notices: %d, want exactly 1: %+v", up.count("emergency_access"), up)
			}
			var list reviewList
			if got := upAdmin.do("GET", "/api/v1/emergency-access/review", nil, &list); got != 200 || len(list.Grants) != 1 {
				t.Fatalf("upstream review list: %d %+v", got, list)
			}
			g := list.Grants[0]
			if g.ID != grant.ID || g.NodeID == "" || g.PatientID != patientID || g.Reason != "life_threatening" || g.Details != "" {
				t.Fatalf("upstream's grant: %+v", g)
			}
			var rep struct {
				OK bool `json:"ok"`
			}
			if got := upAdmin.do("GET", "/api/v1/audit/verify", nil, &rep); got != 200 || !rep.OK {
				t.Fatalf("upstream audit chain: %d %+v", got, rep)
			}
		})
	}
}
