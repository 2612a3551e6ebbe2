// Package notify delivers the notification outbox by e-mail and adds the
// appointment reminders to it.
//
// Every notification is written to the outbox in the same transaction as the
// change it announces. A Worker, of which any number may run in any number
// of server processes, claims due notifications with a lease, sends each to
// its recipient's account address, and marks it sent, or failed with a
// back-off, or failed finally.
//
// Delivery is at least once, not exactly once. A notification marked sent
// is never claimed again, and while a worker holds the lease no other worker
// claims it, so in the normal path each e-mail goes out once. But sending
// and marking cannot be one atomic step. A worker that stops after the
// relay accepted a message and before the store recorded it (a crash, a
// lost database connection) leaves the notification to be claimed again
// once the lease ends, and it is sent again. The same happens when a lease
// runs out while its worker is still sending: a worker gives up its batch
// after three quarters of the lease, but the servers' clocks, which the
// lease is measured by, may disagree. A relay that accepted the content but
// whose answer was lost looks like a failure and is retried too. Every copy
// carries the same Message-ID, derived from the notification id, so a
// receiving system that drops duplicates drops it; many show both.
//
// E-mails carry patient data, so nothing here logs an address, a subject or
// a body: logs name the notification id and kind.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // appointment times in the doctor's zone on every OS

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
)

// Store is what the worker needs of the database.
type Store interface {
	AddNotifications(ctx context.Context, notes []*domain.Notification) error
	ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*domain.Notification, error)
	MarkNotificationSent(ctx context.Context, id string, lease, at time.Time) error
	MarkNotificationFailed(ctx context.Context, id string, lease time.Time, lastErr string, nextAttempt time.Time, final bool) error
	MarkNotificationSkipped(ctx context.Context, id string, lease time.Time, reason string) error
	ListNotifications(ctx context.Context, userID string, limit int) ([]*domain.Notification, error)
	AppointmentsNeedingReminder(ctx context.Context, from, to time.Time, limit int) ([]*domain.Appointment, error)
	PatientByID(ctx context.Context, id string) (*domain.Patient, error)
	DoctorByID(ctx context.Context, id string) (*domain.Doctor, error)
	Availability(ctx context.Context, doctorID string) (*domain.Availability, error)
	UserByID(ctx context.Context, id string) (*domain.User, error)
}

// Sender sends one e-mail; *Mailer is one. A nil Sender means e-mail is
// not configured: notifications stay in the app and their e-mail is
// recorded as skipped. messageID is the notification
// id, stable across retries. An error for which IsPermanent reports true
// ends the notification's delivery; any other is retried.
type Sender interface {
	Send(ctx context.Context, to, subject, body, messageID string) error
}

// Options tune a Worker; zero values take the defaults.
type Options struct {
	PollInterval   time.Duration // between passes when idle; default 2s
	BatchSize      int           // notifications claimed per pass; default 20
	Lease          time.Duration // how long a claim holds; default 2m
	MaxAttempts    int           // attempts before failing finally; default 8
	BackoffBase    time.Duration // wait after the first failure, doubling; default 30s
	BackoffMax     time.Duration // longest wait; default 1h
	ReminderWindow time.Duration // remind of appointments starting this soon; default 24h
	// ClinicTimeZone names the zone messages state times in for a doctor
	// without hours of their own; nil, or an error, means UTC.
	ClinicTimeZone func(context.Context) (string, error)
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, 2*time.Second)
	def(&o.Lease, 2*time.Minute)
	def(&o.BackoffBase, 30*time.Second)
	def(&o.BackoffMax, time.Hour)
	def(&o.ReminderWindow, 24*time.Hour)
	if o.BatchSize <= 0 {
		o.BatchSize = 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	return o
}

// reminderBatch bounds the appointments looked at per pass.
const reminderBatch = 100

// Worker delivers the outbox. Several may share one store.
type Worker struct {
	store  Store
	sender Sender
	events domain.Publisher
	now    func() time.Time
	logger *slog.Logger
	opts   Options
}

// NewWorker returns a worker. events may be nil (no live updates for the
// reminders it creates).
func NewWorker(store Store, sender Sender, events domain.Publisher, now func() time.Time, logger *slog.Logger, opts Options) *Worker {
	return &Worker{store: store, sender: sender, events: events, now: now, logger: logger, opts: opts.withDefaults()}
}

// EmailConfigured reports whether notifications also go out by e-mail;
// without it they reach people in the app only.
func (w *Worker) EmailConfigured() bool { return w.sender != nil }

// errEmailNotConfigured is the reason recorded on notifications whose
// e-mail was skipped.
const errEmailNotConfigured = "e-mail delivery is not configured (HEALTHHUB_SMTP_ADDR); the notification is in the app"

// Run makes passes until ctx ends, then returns nil. A full batch is
// followed at once by the next pass; otherwise it waits the poll interval,
// longer while the outbox cannot be read.
func (w *Worker) Run(ctx context.Context) error {
	w.logger.Info("notification worker started", "poll", w.opts.PollInterval, "batch", w.opts.BatchSize, "email", w.EmailConfigured())
	if !w.EmailConfigured() {
		w.logger.Info("e-mail is not configured (set HEALTHHUB_SMTP_ADDR to send it): notifications stay in the app, and are not e-mailed")
	}
	defer w.logger.Info("notification worker stopped")
	failures := 0
	for {
		sent, failed, skipped, remindErr, deliverErr := w.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if remindErr != nil {
			w.logger.Warn("reminders not added", "err", remindErr)
		}
		wait := w.opts.PollInterval
		if deliverErr != nil {
			failures++
			w.logger.Warn("notification outbox not read", "err", deliverErr, "consecutive", failures)
			for i := 1; i < failures && wait < time.Minute; i++ {
				wait *= 2
			}
			wait = min(wait, time.Minute)
		} else {
			failures = 0
			if sent+failed+skipped >= w.opts.BatchSize {
				continue
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// RunOnce makes one pass: it adds the reminders now due, then claims one
// batch of due notifications and tries each. It reports how many were sent
// and how many failed (to be retried or finally); err joins what went wrong
// with the store, not with single deliveries.
func (w *Worker) RunOnce(ctx context.Context) (sent, failed int, err error) {
	sent, failed, _, remindErr, deliverErr := w.pass(ctx)
	return sent, failed, errors.Join(remindErr, deliverErr)
}

func (w *Worker) pass(ctx context.Context) (sent, failed, skipped int, remindErr, deliverErr error) {
	remindErr = w.remind(ctx)
	sent, failed, skipped, deliverErr = w.deliver(ctx)
	return sent, failed, skipped, remindErr, deliverErr
}

// remind adds a reminder for the patient's and the doctor's account of
// every booked appointment starting within the reminder window. The dedupe
// keys make the store keep one of each however many workers race, and both
// go in one transaction, so an appointment is never left half reminded.
func (w *Worker) remind(ctx context.Context) error {
	now := w.now()
	appts, err := w.store.AppointmentsNeedingReminder(ctx, now, now.Add(w.opts.ReminderWindow), reminderBatch)
	if err != nil {
		return fmt.Errorf("appointments needing a reminder: %w", err)
	}
	var errs []error
	for _, a := range appts {
		notes, err := w.reminders(ctx, a, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("reminder for appointment %s: %w", a.ID, err))
			continue
		}
		if len(notes) == 0 {
			continue
		}
		if err := w.store.AddNotifications(ctx, notes); err != nil {
			errs = append(errs, fmt.Errorf("add reminders for appointment %s: %w", a.ID, err))
			continue
		}
		for _, n := range notes {
			w.announce(ctx, n)
		}
	}
	return errors.Join(errs...)
}

func (w *Worker) reminders(ctx context.Context, a *domain.Appointment, now time.Time) ([]*domain.Notification, error) {
	d, err := w.store.DoctorByID(ctx, a.DoctorID)
	if err != nil {
		return nil, fmt.Errorf("doctor: %w", err)
	}
	p, err := w.store.PatientByID(ctx, a.PatientID)
	if err != nil {
		return nil, fmt.Errorf("patient: %w", err)
	}
	var zone string
	if av, err := w.store.Availability(ctx, a.DoctorID); err == nil {
		zone = av.TimeZone
	} else if domain.ErrorCode(err) != domain.ENOTFOUND {
		return nil, fmt.Errorf("availability: %w", err)
	}
	loc := Location(ctx, zone, w.opts.ClinicTimeZone)
	when, short := When(a.Start, a.End, loc), ShortWhen(a.Start, loc)
	note := func(userID, subject, body string) *domain.Notification {
		return &domain.Notification{ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, Kind: domain.NotifyReminder,
			AppointmentID: a.ID, Subject: subject, Body: body, CreatedAt: now,
			// The start time is part of the key: a moved appointment gets a
			// reminder of its new time.
			DedupeKey: "reminder:" + a.ID + ":" + userID + ":" + strconv.FormatInt(a.Start.Unix(), 10)}
	}
	var notes []*domain.Notification
	// Patient first, doctor second, always: concurrent workers then wait on
	// the same dedupe key instead of deadlocking on two.
	if p.UserID != "" {
		notes = append(notes, note(p.UserID, "Reminder: your appointment on "+short,
			"Hello,\n\nthis is a reminder of your appointment with "+DoctorName(d.Name)+" on "+when+".\n\n"+
				"If you cannot come, please cancel or reschedule it in the HealthHub portal.\n"))
	}
	if d.UserID != "" {
		notes = append(notes, note(d.UserID, "Reminder: appointment on "+short,
			"Hello,\n\nyou have an appointment on "+when+".\n\nThe details are in the HealthHub portal.\n"))
	}
	return notes, nil
}

// announce publishes a reminder this worker stored; one another worker had
// already stored comes back from the store with an empty ID.
func (w *Worker) announce(ctx context.Context, n *domain.Notification) {
	if w.events == nil || n.ID == "" {
		return
	}
	data, err := json.Marshal(n)
	if err != nil {
		w.logger.Error("encode live event", "notification", n.ID, "err", err)
		return
	}
	ev := domain.Event{Type: domain.EventNotification, ID: n.ID, At: w.now(), Data: data, UserIDs: []string{n.UserID}}
	if err := w.events.Publish(ctx, ev); err != nil {
		w.logger.Warn("live event not published", "type", ev.Type, "id", ev.ID, "err", err)
	}
}

// deliver claims one batch and tries each notification in it, or, without
// e-mail, records each as skipped.
func (w *Worker) deliver(ctx context.Context) (sent, failed, skipped int, err error) {
	now := w.now()
	notes, err := w.store.ClaimNotifications(ctx, now, now.Add(w.opts.Lease), w.opts.BatchSize)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("claim notifications: %w", err)
	}
	// The batch must end well inside its lease, or another worker would
	// claim and send what this one is still sending.
	bctx, cancel := context.WithTimeout(ctx, w.opts.Lease*3/4)
	defer cancel()
	for i, n := range notes {
		if bctx.Err() != nil {
			w.release(ctx, notes[i:])
			break
		}
		if w.sender == nil {
			w.skip(bctx, n)
			skipped++
			continue
		}
		if w.deliverOne(bctx, n) {
			sent++
		} else {
			failed++
		}
	}
	return sent, failed, skipped, nil
}

// release hands back claimed notifications not tried, due at once, so they
// need not wait for their lease to run out.
func (w *Worker) release(ctx context.Context, notes []*domain.Notification) {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, n := range notes {
		if err := w.store.MarkNotificationFailed(mctx, n.ID, n.NextAttemptAt, "not tried: the worker stopped or ran out of time", w.now(), false); err != nil {
			w.logger.Warn("claimed notification not released; it is due again when its lease ends", "notification", n.ID, "err", err)
		}
	}
}

// deliverOne sends one claimed notification and records the outcome. It
// reports whether the e-mail was sent.
func (w *Worker) deliverOne(ctx context.Context, n *domain.Notification) bool {
	u, err := w.store.UserByID(ctx, n.UserID)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		w.fail(ctx, n, "the recipient's account no longer exists; not sent", true, "account missing")
		return false
	case err != nil && ctx.Err() != nil:
		w.release(ctx, []*domain.Notification{n})
		return false
	case err != nil:
		msg := "look up the recipient: " + err.Error()
		w.fail(ctx, n, msg, n.Attempts >= w.opts.MaxAttempts, msg)
		return false
	case u.Disabled:
		w.fail(ctx, n, "the recipient's account is disabled; not sent", true, "account disabled")
		return false
	case strings.TrimSpace(u.Email) == "":
		w.fail(ctx, n, "the recipient's account has no e-mail address; not sent", true, "no address")
		return false
	}
	err = w.sender.Send(ctx, u.Email, n.Subject, n.Body, n.ID)
	if err == nil {
		w.markSent(ctx, n)
		return true
	}
	if ctx.Err() != nil && !IsPermanent(err) {
		// Stopped, not refused: due again at once, the attempt uncounted in effect.
		w.release(ctx, []*domain.Notification{n})
		return false
	}
	final := IsPermanent(err) || n.Attempts >= w.opts.MaxAttempts
	// The relay's reply may quote the address; the stored error need not.
	w.fail(ctx, n, redact(err.Error(), u.Email), final, reason(err))
	return false
}

// redact replaces every occurrence of addr in s, in any letter case.
func redact(s, addr string) string {
	return regexp.MustCompile(`(?i)`+regexp.QuoteMeta(addr)).ReplaceAllLiteralString(s, "<recipient>")
}

// reason describes a send error for the log without any text the relay
// sent back, which may quote the recipient.
func reason(err error) string {
	var se *SendError
	if errors.As(err, &se) {
		if se.Code != 0 {
			return fmt.Sprintf("smtp %s: reply %d", se.Op, se.Code)
		}
		if se.Op == OpCompose {
			if errors.Is(err, ErrHeaderInjection) {
				return "message refused: header injection"
			}
			return "message refused: invalid header value"
		}
		return "smtp " + se.Op + ": " + se.Err.Error() // network and TLS errors name the relay, not the recipient
	}
	if IsPermanent(err) {
		return "permanent send error"
	}
	return "send error"
}

func (w *Worker) markSent(ctx context.Context, n *domain.Notification) {
	// Record the success even when the worker is stopping: an unrecorded
	// success is a duplicate e-mail later.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	for try := range 3 {
		if try > 0 {
			time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		}
		if err = w.store.MarkNotificationSent(mctx, n.ID, n.NextAttemptAt, w.now()); err == nil {
			w.logger.Info("notification e-mailed", "notification", n.ID, "kind", n.Kind, "attempt", n.Attempts)
			return
		}
		if errors.Is(err, domain.ErrClaimLapsed) {
			break // another worker holds it now; retrying cannot help
		}
	}
	w.logger.Error("notification e-mailed but not marked sent; it will be sent again when its lease ends",
		"notification", n.ID, "kind", n.Kind, "err", err)
}

// skip records that a notification is not e-mailed because e-mail is not
// configured: a state of the installation, logged once at start, not a
// failure to retry or to warn of per message.
func (w *Worker) skip(ctx context.Context, n *domain.Notification) {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.store.MarkNotificationSkipped(mctx, n.ID, n.NextAttemptAt, errEmailNotConfigured); err != nil {
		w.logger.Error("notification e-mail not recorded as skipped; it is due again when its lease ends",
			"notification", n.ID, "kind", n.Kind, "err", err)
		return
	}
	w.logger.Debug("notification kept in the app, not e-mailed", "notification", n.ID, "kind", n.Kind)
}

func (w *Worker) fail(ctx context.Context, n *domain.Notification, lastErr string, final bool, why string) {
	now := w.now()
	next := now
	if !final {
		next = now.Add(w.backoff(n.Attempts))
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.store.MarkNotificationFailed(mctx, n.ID, n.NextAttemptAt, lastErr, next, final); err != nil {
		w.logger.Error("notification failure not recorded; it is due again when its lease ends",
			"notification", n.ID, "kind", n.Kind, "err", err)
		return
	}
	if final {
		w.logger.Warn("notification e-mail failed finally", "notification", n.ID, "kind", n.Kind, "attempt", n.Attempts, "reason", why)
	} else {
		w.logger.Info("notification e-mail failed; will retry", "notification", n.ID, "kind", n.Kind, "attempt", n.Attempts,
			"reason", why, "retry_at", next)
	}
}

// backoff is the wait after the given failed attempt (1 for the first):
// the base doubled per earlier attempt, capped, with "equal jitter" (a
// random point in its upper half) so that workers spread their retries.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.opts.BackoffBase
	for i := 1; i < attempt && d < w.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.opts.BackoffMax)
	half := d / 2
	return half + rand.N(d-half+1)
}
