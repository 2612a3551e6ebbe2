package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: t0} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eventLog is a Publisher that keeps what it is given.
type eventLog struct {
	mu     sync.Mutex
	events []domain.Event
}

func (p *eventLog) Publish(_ context.Context, e domain.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
	return nil
}

func (p *eventLog) Events() []domain.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]domain.Event(nil), p.events...)
}

// senderFunc lets a test be the relay.
type senderFunc func(ctx context.Context, to, subject, body, messageID string) error

func (f senderFunc) Send(ctx context.Context, to, subject, body, messageID string) error {
	return f(ctx, to, subject, body, messageID)
}

// rig is one engine's store with a relay, a clock and a log to check.
type rig struct {
	t     *testing.T
	db    store.DB
	clock *testClock
	srv   *smtpServer
	logs  *logBuffer
}

// eachEngine runs fn on a fresh store of every engine, in parallel.
func eachEngine(t *testing.T, fn func(t *testing.T, r *rig)) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, &rig{t: t, db: e.Open(t), clock: newClock(), logs: &logBuffer{}})
		})
	}
}

func (r *rig) relay(opts ...smtpOption) *smtpServer {
	r.srv = startSMTP(r.t, opts...)
	return r.srv
}

func (r *rig) mailer(addr string) *Mailer {
	r.t.Helper()
	m, err := NewMailer(SMTPConfig{Addr: addr, From: "HealthHub <no-reply@clinic.example>", StartTLS: StartTLSNever, Timeout: 5 * time.Second},
		r.clock.Now, r.logger())
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

func (r *rig) logger() *slog.Logger { return newSlog(r.logs) }

func (r *rig) worker(sender Sender, pub domain.Publisher, opts Options) *Worker {
	return NewWorker(r.db, sender, pub, r.clock.Now, r.logger(), opts)
}

func (r *rig) user(email string, disabled bool) *domain.User {
	r.t.Helper()
	u := &domain.User{Email: email, Name: "Name of " + email, Role: domain.RolePatient, PasswordHash: "hash", Disabled: disabled,
		CreatedAt: t0, UpdatedAt: t0}
	if err := r.db.CreateUser(context.Background(), u); err != nil {
		r.t.Fatal(err)
	}
	return u
}

func (r *rig) note(userID, subject, body string) *domain.Notification {
	r.t.Helper()
	n := &domain.Notification{UserID: userID, Kind: domain.NotifyBooked, Subject: subject, Body: body, CreatedAt: r.clock.Now()}
	if err := r.db.AddNotifications(context.Background(), []*domain.Notification{n}); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// state reads a notification back from the store.
func (r *rig) state(userID, id string) *domain.Notification {
	r.t.Helper()
	list, err := r.db.ListNotifications(context.Background(), userID, 100)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, n := range list {
		if n.ID == id {
			return n
		}
	}
	r.t.Fatalf("notification %s not found", id)
	return nil
}

func (r *rig) runOnce(w *Worker, wantSent, wantFailed int) {
	r.t.Helper()
	sent, failed, err := w.RunOnce(context.Background())
	if err != nil || sent != wantSent || failed != wantFailed {
		r.t.Fatalf("RunOnce = %d sent, %d failed, %v; want %d, %d", sent, failed, err, wantSent, wantFailed)
	}
}

// noPatientData fails when the log holds any of the given texts.
func (r *rig) noPatientData(texts ...string) {
	r.t.Helper()
	logs := r.logs.String()
	for _, s := range texts {
		if s != "" && strings.Contains(logs, s) {
			r.t.Fatalf("the log contains %q:\n%s", s, logs)
		}
	}
}

func sessions(s *smtpServer) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

func TestDeliversExactlyOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay()
		u := r.user("ada@example.org", false)
		n := r.note(u.ID, "Appointment booked for Tuesday", "Hello Ada,\n\nyour appointment is booked.\n")
		w := r.worker(r.mailer(srv.Addr()), nil, Options{})
		r.runOnce(w, 1, 0)
		for range 4 {
			r.clock.Advance(3 * time.Minute) // past any lease
			r.runOnce(w, 0, 0)
		}
		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("relay received %d messages, want 1", len(msgs))
		}
		p := parseMessage(t, msgs[0].Data)
		if msgs[0].To[0] != u.Email || p.Header.Get("To") != "<ada@example.org>" || p.Subject != n.Subject ||
			p.Header.Get("Message-Id") != "<"+n.ID+"@clinic.example>" || p.Body != strings.ReplaceAll(n.Body, "\n", "\r\n") {
			t.Fatalf("message: to %v, headers %v, subject %q, body %q", msgs[0].To, p.Header, p.Subject, p.Body)
		}
		got := r.state(u.ID, n.ID)
		if got.EmailStatus != domain.EmailSent || !got.SentAt.Equal(t0) || got.Attempts != 1 {
			t.Fatalf("after delivery: %+v", got)
		}
		if !strings.Contains(r.logs.String(), n.ID) {
			t.Fatal("the log does not name the notification")
		}
		r.noPatientData(u.Email, n.Subject, "Hello Ada")
	})
}

func TestTemporaryFailureIsRetriedAfterBackoff(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay(withTempFail(1))
		u := r.user("bob@example.org", false)
		n := r.note(u.ID, "Booked", "body")
		w := r.worker(r.mailer(srv.Addr()), nil, Options{})
		r.runOnce(w, 0, 1)
		got := r.state(u.ID, n.ID)
		if got.EmailStatus != domain.EmailPending || !strings.Contains(got.LastError, "451") || strings.Contains(got.LastError, u.Email) {
			t.Fatalf("after a 451: status %q, last error %q", got.EmailStatus, got.LastError)
		}
		// The first back-off is 15 to 30 seconds.
		r.clock.Advance(10 * time.Second)
		r.runOnce(w, 0, 0)
		r.clock.Advance(21 * time.Second)
		r.runOnce(w, 1, 0)
		r.clock.Advance(time.Hour)
		r.runOnce(w, 0, 0)
		if msgs := srv.Messages(); len(msgs) != 1 {
			t.Fatalf("relay received %d messages, want 1", len(msgs))
		}
		if got := r.state(u.ID, n.ID); got.EmailStatus != domain.EmailSent || got.Attempts != 2 || got.LastError != "" {
			t.Fatalf("after the retry: %+v", got)
		}
		r.noPatientData(u.Email)
	})
}

func TestPermanentFailureIsFinal(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay(withPermFail())
		u := r.user("carol@example.org", false)
		n := r.note(u.ID, "Booked", "body")
		w := r.worker(r.mailer(srv.Addr()), nil, Options{})
		r.runOnce(w, 0, 1)
		for range 3 {
			r.clock.Advance(2 * time.Hour)
			r.runOnce(w, 0, 0)
		}
		got := r.state(u.ID, n.ID)
		if got.EmailStatus != domain.EmailFailed || !strings.Contains(got.LastError, "550") || got.Attempts != 1 ||
			!strings.Contains(got.LastError, "<recipient>") || strings.Contains(strings.ToLower(got.LastError), u.Email) {
			t.Fatalf("after a 550: %+v", got)
		}
		if s := sessions(srv); s != 1 || len(srv.Messages()) != 0 {
			t.Fatalf("%d sessions, %d messages; want one refused try", s, len(srv.Messages()))
		}
		r.noPatientData(u.Email) // the 550 reply quotes the address
	})
}

func TestRelayDownIsRetriedLater(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		u := r.user("dan@example.org", false)
		n := r.note(u.ID, "Booked", "body")
		down := r.worker(r.mailer(deadPort(t)), nil, Options{})
		r.runOnce(down, 0, 1)
		if got := r.state(u.ID, n.ID); got.EmailStatus != domain.EmailPending || !strings.Contains(got.LastError, "connect") {
			t.Fatalf("with the relay down: %+v", got)
		}
		// The relay comes back (here on another port, with another worker).
		srv := r.relay()
		up := r.worker(r.mailer(srv.Addr()), nil, Options{})
		r.runOnce(up, 0, 0) // still backing off
		r.clock.Advance(31 * time.Second)
		r.runOnce(up, 1, 0)
		if msgs := srv.Messages(); len(msgs) != 1 {
			t.Fatalf("relay received %d messages", len(msgs))
		}
	})
}

// goneUsers pretends an account was deleted after its notification was
// claimed (the database would otherwise delete the notification with it).
type goneUsers struct {
	Store
	gone string
}

func (s *goneUsers) UserByID(ctx context.Context, id string) (*domain.User, error) {
	if id == s.gone {
		return nil, domain.Errorf(domain.ENOTFOUND, "No user with that id.")
	}
	return s.Store.UserByID(ctx, id)
}

func TestDisabledOrMissingAccountIsNotMailed(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay()
		u := r.user("eve@example.org", true)
		n := r.note(u.ID, "Booked", "body")
		v := r.user("vic@example.org", false)
		m := r.note(v.ID, "Booked", "body")
		w := NewWorker(&goneUsers{Store: r.db, gone: v.ID}, r.mailer(srv.Addr()), nil, r.clock.Now, r.logger(), Options{})
		r.runOnce(w, 0, 2)
		r.clock.Advance(2 * time.Hour)
		r.runOnce(w, 0, 0)
		if got := r.state(u.ID, n.ID); got.EmailStatus != domain.EmailFailed || !strings.Contains(got.LastError, "disabled") {
			t.Fatalf("disabled account: %+v", got)
		}
		if got := r.state(v.ID, m.ID); got.EmailStatus != domain.EmailFailed || !strings.Contains(got.LastError, "no longer exists") {
			t.Fatalf("missing account: %+v", got)
		}
		if s := sessions(srv); s != 0 {
			t.Fatalf("relay contacted %d times", s)
		}
	})
}

func TestHeaderInjectionInSubjectIsRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay()
		u := r.user("fay@example.org", false)
		n := r.note(u.ID, "Booked\r\nBcc: everyone@evil.example", "body")
		w := r.worker(r.mailer(srv.Addr()), nil, Options{})
		r.runOnce(w, 0, 1)
		got := r.state(u.ID, n.ID)
		if got.EmailStatus != domain.EmailFailed || !strings.Contains(got.LastError, "line break") {
			t.Fatalf("injected subject: %+v", got)
		}
		if s := sessions(srv); s != 0 {
			t.Fatalf("relay contacted %d times", s)
		}
		r.noPatientData("evil.example")
	})
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		u := r.user("gus@example.org", false)
		n := r.note(u.ID, "Booked", "body")
		var calls atomic.Int32
		flaky := senderFunc(func(ctx context.Context, to, subject, body, id string) error {
			calls.Add(1)
			return errors.New("relay overloaded")
		})
		w := r.worker(flaky, nil, Options{MaxAttempts: 3})
		for range 5 {
			if _, _, err := w.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.clock.Advance(2 * time.Hour)
		}
		got := r.state(u.ID, n.ID)
		if calls.Load() != 3 || got.EmailStatus != domain.EmailFailed || got.Attempts != 3 {
			t.Fatalf("%d sends; %+v", calls.Load(), got)
		}
	})
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	w := NewWorker(nil, nil, nil, fixedClock, newSlog(&logBuffer{}), Options{})
	for attempt, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 4: 4 * time.Minute, 8: time.Hour, 40: time.Hour} {
		for range 50 {
			if d := w.backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestConcurrentWorkersDeliverEachOnce(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay()
		var ids []string
		for i := range 3 {
			u := r.user(fmt.Sprintf("user%d@example.org", i), false)
			for j := range 8 {
				ids = append(ids, r.note(u.ID, fmt.Sprintf("Note %d for %d", j, i), "body").ID)
			}
		}
		workers := []*Worker{
			r.worker(r.mailer(srv.Addr()), nil, Options{BatchSize: 5}),
			r.worker(r.mailer(srv.Addr()), nil, Options{BatchSize: 5}),
		}
		var total atomic.Int32
		for round := 0; ; round++ {
			if round > 20 {
				t.Fatal("outbox never drained")
			}
			var wg sync.WaitGroup
			var roundSent atomic.Int32
			for _, w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sent, failed, err := w.RunOnce(context.Background())
					if err != nil || failed != 0 {
						t.Errorf("RunOnce: %d failed, %v", failed, err)
					}
					roundSent.Add(int32(sent))
				}()
			}
			wg.Wait()
			total.Add(roundSent.Load())
			if roundSent.Load() == 0 {
				break
			}
		}
		seen := map[string]int{}
		for _, m := range srv.Messages() {
			seen[parseMessage(t, m.Data).Header.Get("Message-Id")]++
		}
		if int(total.Load()) != len(ids) || len(seen) != len(ids) {
			t.Fatalf("sent %d, relay has %d distinct of %d", total.Load(), len(seen), len(ids))
		}
		for _, id := range ids {
			if c := seen["<"+id+"@clinic.example>"]; c != 1 {
				t.Fatalf("%s delivered %d times", id, c)
			}
		}
	})
}

// flakyMarks fails MarkNotificationSent while failing is set, as a
// database that goes away right after the relay accepted a message.
type flakyMarks struct {
	Store
	failing atomic.Bool
}

func (s *flakyMarks) MarkNotificationSent(ctx context.Context, id string, lease, at time.Time) error {
	if s.failing.Load() {
		return errors.New("connection to the database lost")
	}
	return s.Store.MarkNotificationSent(ctx, id, lease, at)
}

func TestUnrecordedSendIsRepeatedWithTheSameMessageID(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay()
		u := r.user("hal@example.org", false)
		n := r.note(u.ID, "Booked", "body")
		st := &flakyMarks{Store: r.db}
		st.failing.Store(true)
		w := NewWorker(st, r.mailer(srv.Addr()), nil, r.clock.Now, r.logger(), Options{})
		r.runOnce(w, 1, 0)
		if got := r.state(u.ID, n.ID); got.EmailStatus != domain.EmailSending {
			t.Fatalf("status %q, want sending until the lease ends", got.EmailStatus)
		}
		st.failing.Store(false)
		r.runOnce(w, 0, 0) // leased: not sent again
		r.clock.Advance(2*time.Minute + time.Second)
		r.runOnce(w, 1, 0)
		r.clock.Advance(time.Hour)
		r.runOnce(w, 0, 0)
		msgs := srv.Messages()
		if len(msgs) != 2 {
			t.Fatalf("relay received %d messages, want the original and one repeat", len(msgs))
		}
		a, b := parseMessage(t, msgs[0].Data).Header.Get("Message-Id"), parseMessage(t, msgs[1].Data).Header.Get("Message-Id")
		if a != b || a != "<"+n.ID+"@clinic.example>" {
			t.Fatalf("Message-IDs %q and %q", a, b)
		}
		if got := r.state(u.ID, n.ID); got.EmailStatus != domain.EmailSent {
			t.Fatalf("status %q", got.EmailStatus)
		}
	})
}

func TestRemindersAreCreatedOnceAndDelivered(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		srv := r.relay()
		doc := &domain.Doctor{Specialization: "General practice", CreatedAt: t0, UpdatedAt: t0}
		docUser := &domain.User{Email: "dr.lee@example.org", Name: "Dr. Lee", Role: domain.RoleDoctor, PasswordHash: "h", CreatedAt: t0, UpdatedAt: t0}
		if err := r.db.CreateDoctor(ctx, doc, docUser, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.db.PutAvailability(ctx, &domain.Availability{DoctorID: doc.ID, TimeZone: "Europe/Berlin", SlotMinutes: 30, HorizonDays: 30, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		patUser := &domain.User{Email: "ida@example.org", Name: "Ida Patient", Role: domain.RolePatient, PasswordHash: "h", CreatedAt: t0, UpdatedAt: t0}
		pat := &domain.Patient{Name: "Ida Patient", DateOfBirth: "1980-02-03", CreatedAt: t0, UpdatedAt: t0}
		if err := r.db.CreatePatient(ctx, pat, patUser, nil); err != nil {
			t.Fatal(err)
		}
		walkIn := &domain.Patient{Name: "Walk In", DateOfBirth: "1970-01-01", CreatedAt: t0, UpdatedAt: t0}
		if err := r.db.CreatePatient(ctx, walkIn, nil, nil); err != nil {
			t.Fatal(err)
		}
		book := func(p *domain.Patient, in time.Duration, status string) *domain.Appointment {
			a := &domain.Appointment{DoctorID: doc.ID, PatientID: p.ID, Start: t0.Add(in), End: t0.Add(in + 30*time.Minute),
				Status: status, Reason: "Chest pain", CreatedBy: "staff", CreatedAt: t0, UpdatedAt: t0}
			if err := r.db.BookAppointment(ctx, a, nil); err != nil {
				t.Fatal(err)
			}
			return a
		}
		soon := book(pat, 20*time.Hour, domain.StatusBooked)    // 06:00 Berlin on Tuesday 3 March
		walk := book(walkIn, 21*time.Hour, domain.StatusBooked) // the walk-in has no account: doctor only
		book(pat, 22*time.Hour, domain.StatusCancelled)         // cancelled: none
		book(pat, 30*time.Hour, domain.StatusBooked)            // beyond 24 hours: not yet

		events := &eventLog{}
		workers := []*Worker{
			r.worker(r.mailer(srv.Addr()), events, Options{}),
			r.worker(r.mailer(srv.Addr()), events, Options{}),
		}
		for range 2 {
			var wg sync.WaitGroup
			for _, w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, _, err := w.RunOnce(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		r.runOnce(workers[0], 0, 0)

		reminders := func(userID string) []*domain.Notification {
			list, err := r.db.ListNotifications(ctx, userID, 50)
			if err != nil {
				t.Fatal(err)
			}
			var out []*domain.Notification
			for _, n := range list {
				if n.Kind == domain.NotifyReminder {
					out = append(out, n)
				}
			}
			return out
		}
		patRem, docRem := reminders(patUser.ID), reminders(docUser.ID)
		if len(patRem) != 1 || patRem[0].AppointmentID != soon.ID || len(docRem) != 2 {
			t.Fatalf("reminders: patient %d, doctor %d", len(patRem), len(docRem))
		}
		if ids := map[string]bool{docRem[0].AppointmentID: true, docRem[1].AppointmentID: true}; !ids[soon.ID] || !ids[walk.ID] {
			t.Fatalf("doctor reminded of %v, want %s and %s", ids, soon.ID, walk.ID)
		}
		for _, n := range append(patRem, docRem...) {
			if n.EmailStatus != domain.EmailSent {
				t.Fatalf("reminder %s is %s", n.ID, n.EmailStatus)
			}
		}
		if p := patRem[0]; p.Subject != "Reminder: your appointment on Tue 3 Mar at 06:00 CET" ||
			!strings.Contains(p.Body, "Dr. Lee") || !strings.Contains(p.Body, "06:00–06:30 (Europe/Berlin)") {
			t.Fatalf("patient reminder: %q\n%s", p.Subject, p.Body)
		}
		for _, n := range docRem {
			if strings.Contains(n.Body, "Ida") || strings.Contains(n.Body, "Walk In") || strings.Contains(n.Body, "Chest pain") {
				t.Fatalf("doctor's e-mail names the patient or the reason: %s", n.Body)
			}
		}
		if due, err := r.db.AppointmentsNeedingReminder(ctx, r.clock.Now(), r.clock.Now().Add(24*time.Hour), 10); err != nil || len(due) != 0 {
			t.Fatalf("still needing a reminder: %v, %v", due, err)
		}

		// One live event per stored reminder, to its recipient only, with
		// no internal fields.
		evs := events.Events()
		if len(evs) != 3 {
			t.Fatalf("%d events, want 3", len(evs))
		}
		stored := map[string]string{patRem[0].ID: patUser.ID, docRem[0].ID: docUser.ID, docRem[1].ID: docUser.ID}
		for _, e := range evs {
			if e.Type != domain.EventNotification || stored[e.ID] == "" || len(e.UserIDs) != 1 || e.UserIDs[0] != stored[e.ID] || len(e.Roles) != 0 {
				t.Fatalf("event %+v", e)
			}
			delete(stored, e.ID)
			var data map[string]any
			if err := json.Unmarshal(e.Data, &data); err != nil {
				t.Fatal(err)
			}
			if data["id"] != e.ID || data["kind"] != domain.NotifyReminder {
				t.Fatalf("event data %s", e.Data)
			}
			for _, internal := range []string{"dedupe_key", "DedupeKey", "attempts", "Attempts", "last_error", "LastError", "next_attempt_at", "NextAttemptAt"} {
				if _, ok := data[internal]; ok {
					t.Fatalf("event data has %s: %s", internal, e.Data)
				}
			}
		}

		msgs := srv.Messages()
		if len(msgs) != 3 {
			t.Fatalf("relay received %d messages, want 3", len(msgs))
		}
		to := map[string]int{}
		for _, m := range msgs {
			to[m.To[0]]++
		}
		if to["ida@example.org"] != 1 || to["dr.lee@example.org"] != 2 {
			t.Fatalf("recipients %v", to)
		}
		r.noPatientData("ida@example.org", "dr.lee@example.org", "Reminder:")
	})
}

func TestRunDeliversUntilStopped(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		srv := r.relay()
		u := r.user("jo@example.org", false)
		r.note(u.ID, "Booked", "body")
		w := r.worker(r.mailer(srv.Addr()), nil, Options{PollInterval: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		deadline := time.Now().Add(60 * time.Second)
		for len(srv.Messages()) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		r.note(u.ID, "Second", "body")
		for len(srv.Messages()) < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Run did not stop")
		}
		if n := len(srv.Messages()); n != 2 {
			t.Fatalf("relay received %d messages, want 2", n)
		}
	})
}

// TestWithoutEmailNoticesStayInTheApp: with no e-mail configured the worker
// says so once when it starts, and each notification stays listed for its
// recipient, its e-mail marked skipped: not failed, not retried, not warned
// of per message.
func TestWithoutEmailNoticesStayInTheApp(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		u := r.user("eve@example.org", false)
		first := r.note(u.ID, "Appointment booked", "Hello Eve")
		second := r.note(u.ID, "Appointment moved", "Hello again")
		w := r.worker(nil, nil, Options{PollInterval: 10 * time.Millisecond, BackoffBase: time.Millisecond})
		if w.EmailConfigured() {
			t.Fatal("a worker without a sender says e-mail is configured")
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		skipped := func() bool {
			for _, n := range []*domain.Notification{first, second} {
				if r.state(u.ID, n.ID).EmailStatus != domain.EmailSkipped {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(20 * time.Second)
		for !skipped() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// Later passes find nothing to do, however often they run.
		r.clock.Advance(24 * time.Hour)
		third := r.note(u.ID, "Reminder", "Tomorrow")
		for r.state(u.ID, third.ID).EmailStatus != domain.EmailSkipped && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		for _, n := range []*domain.Notification{first, second, third} {
			got := r.state(u.ID, n.ID)
			if got.EmailStatus != domain.EmailSkipped || got.Attempts != 1 || !strings.Contains(got.LastError, "not configured") {
				t.Fatalf("notification in the app: %+v", got)
			}
		}
		logs := r.logs.String()
		if strings.Count(logs, "e-mail is not configured") != 1 || !strings.Contains(logs, "level=INFO msg=\"e-mail is not configured") {
			t.Fatalf("want one INFO line saying e-mail is not configured:\n%s", logs)
		}
		if strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
			t.Fatalf("warnings for a state of the installation:\n%s", logs)
		}
		r.noPatientData(u.Email, "Hello Eve")
	})
}

// TestRemindersStateTheZone: a reminder states the time in the doctor's
// zone, or the clinic's for a doctor without hours, names the zone, and
// gives a doctor whose name has a title no second one.
func TestRemindersStateTheZone(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		doc := &domain.Doctor{Specialization: "General practice", CreatedAt: t0, UpdatedAt: t0}
		docUser := &domain.User{Email: "dr.kay@example.org", Name: "Dr Kay", Role: domain.RoleDoctor, PasswordHash: "h", CreatedAt: t0, UpdatedAt: t0}
		if err := r.db.CreateDoctor(ctx, doc, docUser, nil); err != nil {
			t.Fatal(err)
		}
		patUser := &domain.User{Email: "jo@example.org", Name: "Jo Patient", Role: domain.RolePatient, PasswordHash: "h", CreatedAt: t0, UpdatedAt: t0}
		pat := &domain.Patient{Name: "Jo Patient", DateOfBirth: "1980-02-03", CreatedAt: t0, UpdatedAt: t0}
		if err := r.db.CreatePatient(ctx, pat, patUser, nil); err != nil {
			t.Fatal(err)
		}
		a := &domain.Appointment{DoctorID: doc.ID, PatientID: pat.ID, Start: t0.Add(20 * time.Hour), End: t0.Add(20*time.Hour + 30*time.Minute),
			Status: domain.StatusBooked, Reason: "x", CreatedBy: "staff", CreatedAt: t0, UpdatedAt: t0}
		if err := r.db.BookAppointment(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		clinic := func(context.Context) (string, error) { return "America/New_York", nil }
		r.runOnce(r.worker(nil, nil, Options{ClinicTimeZone: clinic}), 0, 0)
		list, err := r.db.ListNotifications(ctx, patUser.ID, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("patient's notifications: %v, %v", list, err)
		}
		want := "with Dr Kay on " + When(a.Start, a.End, mustZone(t, "America/New_York"))
		if !strings.Contains(list[0].Body, want) || !strings.Contains(list[0].Body, "(America/New_York)") || strings.Contains(list[0].Body, "Dr Dr") {
			t.Fatalf("reminder body %q; want it to contain %q", list[0].Body, want)
		}
		if !strings.HasSuffix(list[0].Subject, " EST") {
			t.Fatalf("subject %q does not name the zone", list[0].Subject)
		}
	})
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
