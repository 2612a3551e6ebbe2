package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// TestMain lets a test start this binary as a real server process, to kill it.
func TestMain(m *testing.M) {
	if args := os.Getenv("HEALTHHUB_TEST_CHILD_ARGS"); args != "" {
		err := server.Run(context.Background(), append([]string{"healthhubd"}, strings.Fields(args)...), os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(runIsolated(m))
}

// runIsolated runs the tests with HOME and the XDG folders in a temporary
// folder, inherited by every child server: a test that forgets
// HEALTHHUB_DATA_DIR writes there, never into the user's real data folder
// (~/.local/share/healthhub, which make run and make serve use).
func runIsolated(m *testing.M) int {
	home, err := os.MkdirTemp("", "healthhub-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(home)
	for name, dir := range map[string]string{"HOME": home, "XDG_DATA_HOME": filepath.Join(home, "data"), "XDG_CONFIG_HOME": filepath.Join(home, "config")} {
		os.Setenv(name, dir)
	}
	return m.Run()
}

func childEnv(vars map[string]string) []string {
	env := append([]string{}, os.Environ()...)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return append(env, "HEALTHHUB_TEST_CHILD_ARGS=serve")
}

// startChild runs `healthhubd serve` in a child process and returns its URL.
func startChild(t *testing.T, vars map[string]string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = childEnv(vars)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	re := regexp.MustCompile(`running at (https?://[0-9.:]+)`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return cmd, m[1]
		}
	}
	t.Fatalf("child did not start: %s", out.String())
	return nil, ""
}

func TestKilledMidBookingLosesNothingHalfDone(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			dbURL, _ := eng.URL(t)
			vars := testEnv(t, dbURL)
			cfg := server.Config{DataDir: vars["HEALTHHUB_DATA_DIR"], DatabaseURL: dbURL, KeyringFile: filepath.Join(vars["HEALTHHUB_DATA_DIR"], "keyring.json"),
				Argon2Memory: 64, LoginPerIP: -1, LoginPerAccount: -1, IdleTimeout: time.Hour, LogFormat: "text", LogLevel: "error"}
			ctx := domain.WithPrincipal(context.Background(), domain.System)
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

			// The clinic: a staff account, a doctor open all day, a patient.
			sys, err := server.Open(ctx, cfg, quiet, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			staffEmail := "desk@clinic.example"
			if _, err := sys.Auth.CreateUser(ctx, newAccount(staffEmail, domain.RoleStaff)); err != nil {
				t.Fatal(err)
			}
			d, err := sys.Portal.CreateDoctor(ctx, portal.NewDoctor{Email: "dr@clinic.example", Password: "correct horse battery", Name: "Dr Who", Specialization: "GP"})
			if err != nil {
				t.Fatal(err)
			}
			var weekly []domain.WeeklyHours
			for day := range 7 {
				weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:45"})
			}
			if _, err := sys.Portal.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 15, HorizonDays: 700, Weekly: weekly}); err != nil {
				t.Fatal(err)
			}
			name, dob, email := "Pat Kill", "1980-01-01", "pat@clinic.example"
			p, err := sys.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob, Email: &email}, Password: "correct horse battery"}, false)
			if err != nil {
				t.Fatal(err)
			}
			sys.Close()

			cmd, base := startChild(t, vars)
			token := httpLogin(t, base, staffEmail)
			first := time.Now().UTC().Truncate(24 * time.Hour).Add(48 * time.Hour)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var mu sync.Mutex
			acked := 0
			for c := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						at := first.Add(time.Duration(c*2000+i) * 15 * time.Minute)
						if at.Hour() == 23 && at.Minute() == 45 {
							continue
						}
						body, _ := json.Marshal(map[string]any{"doctor_id": d.ID, "patient_id": p.ID, "start": at, "end": at.Add(15 * time.Minute)})
						req, _ := http.NewRequest("POST", base+"/api/v1/appointments", bytes.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+token)
						res, err := http.DefaultClient.Do(req)
						if err != nil {
							return // the server is gone
						}
						res.Body.Close()
						if res.StatusCode == 201 {
							mu.Lock()
							acked++
							mu.Unlock()
						}
					}
				}()
			}
			// Kill once bookings are being written (a fixed pause could end
			// before the first one on a busy machine); the writers keep going,
			// so the kill still lands mid-write.
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				mu.Lock()
				n := acked
				mu.Unlock()
				if n >= 32 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d bookings acknowledged in 60 s", n)
				}
			}
			cmd.Process.Signal(syscall.SIGKILL) // no shutdown, mid-write
			cmd.Wait()
			close(stop)
			wg.Wait()

			// Open the database as the next start would, and check every booking.
			sys, err = server.Open(context.Background(), cfg, quiet, time.Now)
			if err != nil {
				t.Fatalf("reopen after kill: %v", err)
			}
			defer sys.Close()
			list, err := sys.Store.ListAppointments(context.Background(), domain.AppointmentFilter{DoctorID: d.ID, Limit: 100000})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) < acked || acked == 0 {
				t.Fatalf("%d appointments stored, %d acknowledged before the kill", len(list), acked)
			}
			perAppointment := map[string]int{}
			for _, uid := range []string{p.UserID, d.UserID} {
				notes, err := sys.Store.ListNotifications(context.Background(), uid, 100000)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range notes {
					if n.Kind == domain.NotifyBooked {
						perAppointment[n.AppointmentID]++
					}
				}
			}
			for _, a := range list {
				if perAppointment[a.ID] != 2 {
					t.Fatalf("appointment %s has %d of its 2 outbox rows", a.ID, perAppointment[a.ID])
				}
				delete(perAppointment, a.ID)
			}
			if len(perAppointment) != 0 {
				t.Fatalf("outbox rows without an appointment: %v", perAppointment)
			}
			rep, err := auditVerify(sys)
			if err != nil || !rep {
				t.Fatalf("audit chain after the kill: %v %v", rep, err)
			}
			t.Logf("%d bookings acknowledged, %d stored, each with both notifications", acked, len(list))
		})
	}
}
