package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// TestChangeThroughOneServerReachesClientsOfAnother runs two healthhubd
// processes on one PostgreSQL database: a booking made through A reaches a
// WebSocket client connected to B.
func TestChangeThroughOneServerReachesClientsOfAnother(t *testing.T) {
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the two-process test", storetest.EnvPostgresURL)
		}
		t.Skipf("set %s to run servers sharing a PostgreSQL database", storetest.EnvPostgresURL)
	}
	dbURL := storetest.NewPostgresSchema(t)
	dataDir := t.TempDir()
	cfg := server.Config{DataDir: dataDir, DatabaseURL: dbURL, KeyringFile: filepath.Join(dataDir, "keyring.json"),
		Argon2Memory: 64, LoginPerIP: -1, LoginPerAccount: -1, IdleTimeout: time.Hour, LogFormat: "text", LogLevel: "error"}
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	sys, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Auth.CreateUser(ctx, newAccount("desk@clinic.example", domain.RoleStaff)); err != nil {
		t.Fatal(err)
	}
	d, err := sys.Portal.CreateDoctor(ctx, portal.NewDoctor{Email: "dr@clinic.example", Password: "correct horse battery", Name: "Dr Two", Specialization: "GP"})
	if err != nil {
		t.Fatal(err)
	}
	var weekly []domain.WeeklyHours
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "08:00", End: "18:00"})
	}
	if _, err := sys.Portal.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 60, Weekly: weekly}); err != nil {
		t.Fatal(err)
	}
	name, dob, email := "Pat Two", "1980-01-01", "pat@clinic.example"
	p, err := sys.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob, Email: &email}, Password: "correct horse battery"}, false)
	if err != nil {
		t.Fatal(err)
	}
	sys.Close()

	// Both servers share the keyring, as replicas must.
	vars := map[string]string{"HEALTHHUB_DATA_DIR": dataDir, "HEALTHHUB_DATABASE_URL": dbURL, "HEALTHHUB_ARGON2_MEMORY_KIB": "64",
		"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_LOG_LEVEL": "warn"}
	_, serverA := startChild(t, vars)
	_, serverB := startChild(t, vars)

	// The patient and the doctor listen on B.
	listen := func(email string) *websocket.Conn {
		tok := httpLogin(t, serverB, email)
		wsURL := "ws" + strings.TrimPrefix(serverB, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(tok)
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(dctx, wsURL, nil)
		if err != nil {
			t.Fatalf("dial B: %v", err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	patientWS, doctorWS := listen(email), listen("dr@clinic.example")

	// Staff books through A.
	staff := httpLogin(t, serverA, "desk@clinic.example")
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 9*time.Hour)
	body, _ := json.Marshal(map[string]any{"doctor_id": d.ID, "patient_id": p.ID, "start": start, "end": start.Add(30 * time.Minute), "reason": "follow-up"})
	req, _ := http.NewRequest("POST", serverA+"/api/v1/appointments", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+staff)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var booked domain.Appointment
	json.NewDecoder(res.Body).Decode(&booked)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("booking through A: %d", res.StatusCode)
	}

	for who, c := range map[string]*websocket.Conn{"patient": patientWS, "doctor": doctorWS} {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		found := false
		for !found {
			_, msg, err := c.Read(rctx)
			if err != nil {
				cancel()
				t.Fatalf("%s's client on B got no booking event: %v", who, err)
			}
			var ev map[string]json.RawMessage
			json.Unmarshal(msg, &ev)
			if string(ev["type"]) != `"appointment.booked"` {
				continue
			}
			if _, leaks := ev["user_ids"]; leaks {
				t.Fatalf("audience sent to the client: %s", msg)
			}
			var a domain.Appointment
			json.Unmarshal(ev["data"], &a)
			if a.ID != booked.ID || !a.Start.Equal(start) {
				t.Fatalf("%s got %s", who, msg)
			}
			found = true
		}
		cancel()
	}
}
