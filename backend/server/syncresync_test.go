package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/healthhub/healthhub/backend/tlsca"
)

// TestPinnedUpstreamAndResync runs a clinic server with its own certificate
// authority (HTTPS, --tls auto) and a workstation that enrols with it by the
// authority's fingerprint, as an IT person reads it off the server; a wrong
// fingerprint is refused. Then the workstation is cut off while the clinic
// cancels one of its bookings and the clinic server compacts its change
// log past that cancellation: back online, the workstation is told its
// cursor is too old (410), pulls everything again, and cancels the booking
// the clinic server no longer holds as live.
func TestPinnedUpstreamAndResync(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run("upstream-"+eng.Name, func(t *testing.T) {
			dbURL, dataDir := eng.URL(t)
			doctorID, patientID := seedClinic(t, dataDir, dbURL, "clinic.example", "")
			d, p := &domain.Doctor{ID: doctorID}, &domain.Patient{ID: patientID}
			_, upURL := startChild(t, map[string]string{"HEALTHHUB_DATA_DIR": dataDir, "HEALTHHUB_DATABASE_URL": dbURL, "HEALTHHUB_ARGON2_MEMORY_KIB": "64",
				"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_LOG_LEVEL": "warn", "HEALTHHUB_TLS": "auto"})
			if !strings.HasPrefix(upURL, "https://") {
				t.Fatalf("the clinic server runs at %s, want HTTPS", upURL)
			}
			// The authority's fingerprint, as the server printed it.
			raw, err := os.ReadFile(filepath.Join(dataDir, "tls", tlsca.CAFile))
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(raw)
			ca, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			login := func(base, email string) string {
				body, _ := json.Marshal(map[string]string{"email": email, "password": "correct horse battery"})
				res, err := pinned.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var pair struct {
					AccessToken string `json:"access_token"`
				}
				json.NewDecoder(res.Body).Decode(&pair)
				return pair.AccessToken
			}
			upAdmin := &client{t: t, base: upURL, token: login(upURL, "admin@clinic.example"), http: pinned}
			upDesk := &client{t: t, base: upURL, token: login(upURL, "desk@clinic.example"), http: pinned}
			var code struct {
				Code string `json:"code"`
			}
			if st := upAdmin.do("POST", "/api/v1/sync/enrollments", map[string]any{"name": "ws"}, &code); st != 201 {
				t.Fatalf("enrolment code: %d", st)
			}
			proxy := newFaultProxy(t, "ws", strings.Replace(upURL, "https://", "http://", 1))
			upstream := strings.Replace(proxy.URL(), "http://", "https://", 1)
			vars := testEnv(t, "")
			vars["HEALTHHUB_SYNC_INTERVAL"] = "200ms"
			if out, err := run(t, vars, "correct horse battery", "user", "create", "--email", "desk@ws.example", "--role", "staff", "--password-stdin"); err != nil {
				t.Fatalf("node account: %v %s", err, out)
			}
			wrong := strings.Repeat("AB:", 31) + "AB"
			if out, err := run(t, vars, "", "sync", "enroll", "--upstream", upstream, "--code", code.Code, "--fingerprint", wrong); err == nil ||
				!strings.Contains(err.Error(), "does not match this fingerprint") {
				t.Fatalf("enrolling with a wrong fingerprint: %v %s", err, out)
			}
			if out, err := run(t, vars, "", "sync", "enroll", "--upstream", upstream, "--code", code.Code, "--fingerprint", tlsca.Fingerprint(ca)); err != nil {
				t.Fatalf("enrol with the pinned authority: %v %s", err, out)
			}
			_, wsURL := startChild(t, vars)
			ws := &client{t: t, base: wsURL, token: httpLogin(t, wsURL, "desk@ws.example")}

			eventually(t, "the workstation pulls the patient over the pinned link", func() bool {
				return ws.do("GET", "/api/v1/patients/"+p.ID, nil, &struct{}{}) == 200
			})
			slot := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Hour)
			var a appt
			body := map[string]any{"doctor_id": d.ID, "patient_id": p.ID, "start": slot.Format(time.RFC3339), "end": slot.Add(30 * time.Minute).Format(time.RFC3339)}
			if st := ws.do("POST", "/api/v1/appointments", body, &a); st != 201 {
				t.Fatalf("book: %d", st)
			}
			status := func(c *client) string {
				var x appt
				c.do("GET", "/api/v1/appointments/"+a.ID, nil, &x)
				return x.Status
			}
			eventually(t, "the booking is confirmed", func() bool { return status(ws) == domain.StatusBooked })

			// Cut off, the clinic cancels it and compacts the log past it.
			proxy.partition()
			if st := upDesk.do("POST", "/api/v1/appointments/"+a.ID+"/cancel", map[string]string{"reason": "doctor ill"}, nil); st != 200 {
				t.Fatalf("cancel at the clinic server: %d", st)
			}
			db, err := store.Open(context.Background(), dbURL, dataDir)
			if err != nil {
				t.Fatal(err)
			}
			removed, err := db.CompactChanges(context.Background(), time.Now().Add(time.Second))
			db.Close()
			if err != nil || removed == 0 {
				t.Fatalf("compaction removed %d rows: %v", removed, err)
			}
			if status(ws) != domain.StatusBooked {
				t.Fatal("the workstation learnt of the cancellation while cut off")
			}
			proxy.heal()
			eventually(t, "the workstation resyncs and cancels what the clinic server no longer holds", func() bool {
				return status(ws) == domain.StatusCancelled
			})
			res, err := http.Get(wsURL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(metrics), "healthhub_sync_resyncs_total 1\n") {
				t.Fatalf("the workstation did not resync once:\n%s", grepLines(string(metrics), "healthhub_sync_"))
			}
		})
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
