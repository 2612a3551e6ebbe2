// Package retention keeps each class of data as long as the clinic's policy
// says and the law requires, and no longer: clinical records some years
// after a patient's last contact, the audit log at least six years. A legal
// hold on a patient stops every purge of their data. A purge is one run of
// Run, by the leader's background work or from the command line; it is
// idempotent and recorded in the audit log with the policy, the counts and
// who ran it. A purged patient's audit events stay, with the patient
// replaced by a keyed pseudonym (see domain.AuditChainV2: the chain still
// verifies).
package retention

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Legal floors and defaults, in years. The audit floor is HIPAA's six
// years of documentation (45 CFR §164.316(b)(2)(i)); the clinical floor
// keeps an administrator from setting a period shorter than the shortest
// medical-record retention the clinic's jurisdictions commonly require.
const (
	AuditFloorYears      = 6
	ClinicalFloorYears   = 6
	DefaultClinicalYears = 10
	DefaultAuditYears    = 6
	MaxYears             = 100
	// DefaultRecordingsDays: a consultation's recordings are kept this
	// many days after its note is signed (the transcript and the note stay
	// with the record).
	DefaultRecordingsDays = 30
	MaxRecordingsDays     = 3650
)

// Audit resource types of what this package records.
const (
	ResourceRetention = "retention"
	ResourceLegalHold = "legal_hold"
)

// Setting keys.
const (
	settingsKey  = "retention_policy"
	pseudonymKey = "audit_pseudonym_key"
	sealContext  = "audit-pseudonym-key"
)

// Policy is the retention of each data class the purge removes. Recordings
// and images join it when they are stored; conversations keep the
// assistant's own setting (its retention_days).
type Policy struct {
	// ClinicalRecordsYears: a patient's record (demographics, medical
	// history, allergies, medications, appointments, conversations about
	// them) is removed this long after their last contact.
	ClinicalRecordsYears int `json:"clinical_records_years"`
	// AuditEventsYears: audit events older than this are removed from the
	// start of the log.
	AuditEventsYears int `json:"audit_events_years"`
	// RecordingsDays: a consultation's audio is removed this many days
	// after its visit note is signed.
	RecordingsDays int `json:"recordings_days"`
	// The floors, for a form to show; not settable.
	ClinicalRecordsFloorYears int `json:"clinical_records_floor_years"`
	AuditEventsFloorYears     int `json:"audit_events_floor_years"`
}

// PolicyPatch changes the fields that are set.
type PolicyPatch struct {
	ClinicalRecordsYears *int `json:"clinical_records_years,omitempty"`
	AuditEventsYears     *int `json:"audit_events_years,omitempty"`
	RecordingsDays       *int `json:"recordings_days,omitempty"`
}

func defaultPolicy() Policy {
	return Policy{ClinicalRecordsYears: DefaultClinicalYears, AuditEventsYears: DefaultAuditYears, RecordingsDays: DefaultRecordingsDays,
		ClinicalRecordsFloorYears: ClinicalFloorYears, AuditEventsFloorYears: AuditFloorYears}
}

// Store is what the service needs of the database.
type Store interface {
	domain.RetentionStore
	Setting(ctx context.Context, key string) (string, bool, error)
	PutSetting(ctx context.Context, key, value string) error
	PutSettingIfAbsent(ctx context.Context, key, value string) (string, error)
	PatientByID(ctx context.Context, id string) (*domain.Patient, error)
	RecordingsSignedBefore(ctx context.Context, t time.Time, limit int) ([]*domain.Recording, error)
	PurgeRecordingAudio(ctx context.Context, id string, at time.Time) (int, error)
	BlobGarbage(ctx context.Context, limit int) ([]string, error)
	DropBlobGarbage(ctx context.Context, keys []string) error
	PrivacyOfficers(ctx context.Context) ([]string, error)
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	ScanAudit(ctx context.Context, afterSeq int64, limit int) ([]*domain.AuditEvent, error)
}

// Guard decides access (access.Guard).
type Guard interface {
	Authorize(ctx context.Context, action string, res policy.Resource) error
}

// Sealer keeps the pseudonym key encrypted at rest (secret.Keyring).
type Sealer interface {
	Seal(plaintext []byte, context string) (string, error)
	Open(sealed, context string) ([]byte, error)
}

// Blobs deletes stored files (blob.Store).
type Blobs interface {
	Delete(ctx context.Context, key string) error
}

// Options are the service's dependencies.
type Options struct {
	// Blobs deletes the audio of purged recordings; nil leaves it queued.
	Blobs  Blobs
	Store  Store
	Guard  Guard
	Audit  audit.Recorder
	Keys   Sealer
	Now    func() time.Time
	Logger *slog.Logger
	// AuditKeptFrom returns the first sequence number of the audit log that
	// must stay whatever its age (0: none is held back). An installation
	// that ships its log to an upstream keeps all of it, since shipping
	// resumes from the log's start.
	AuditKeptFrom func(ctx context.Context) (int64, error)
}

// Service applies the policy.
type Service struct{ o Options }

// New makes the service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}
}

var settingsResource = policy.Resource{Type: policy.Settings, ID: ResourceRetention}

// Policy returns the policy in force (admins).
func (s *Service) Policy(ctx context.Context) (Policy, error) {
	if err := s.o.Guard.Authorize(ctx, policy.Read, settingsResource); err != nil {
		return Policy{}, err
	}
	return s.policy(ctx)
}

func (s *Service) policy(ctx context.Context) (Policy, error) {
	p := defaultPolicy()
	v, ok, err := s.o.Store.Setting(ctx, settingsKey)
	if err != nil || !ok {
		return p, err
	}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return defaultPolicy(), fmt.Errorf("read retention policy: %w", err)
	}
	// Floors hold whatever was stored.
	p.ClinicalRecordsYears = max(p.ClinicalRecordsYears, ClinicalFloorYears)
	p.AuditEventsYears = max(p.AuditEventsYears, AuditFloorYears)
	if p.RecordingsDays <= 0 {
		p.RecordingsDays = DefaultRecordingsDays
	}
	p.ClinicalRecordsFloorYears, p.AuditEventsFloorYears = ClinicalFloorYears, AuditFloorYears
	return p, nil
}

// SetPolicy changes the policy (admins), within the floors; the change is
// audited.
func (s *Service) SetPolicy(ctx context.Context, in PolicyPatch) (Policy, error) {
	if err := s.o.Guard.Authorize(ctx, policy.Update, settingsResource); err != nil {
		return Policy{}, err
	}
	p, err := s.policy(ctx)
	if err != nil {
		return p, err
	}
	set := func(field string, v *int, floor int, why string, dst *int) error {
		switch {
		case v == nil:
			return nil
		case *v < floor:
			return domain.Invalid(field, "%s cannot be less than %d years: %s.", field, floor, why)
		case *v > MaxYears:
			return domain.Invalid(field, "%s cannot be more than %d years.", field, MaxYears)
		}
		*dst = *v
		return nil
	}
	if err := set("clinical_records_years", in.ClinicalRecordsYears, ClinicalFloorYears, "medical records must be kept at least that long", &p.ClinicalRecordsYears); err != nil {
		return p, err
	}
	if err := set("audit_events_years", in.AuditEventsYears, AuditFloorYears, "HIPAA requires six years of audit documentation", &p.AuditEventsYears); err != nil {
		return p, err
	}
	if v := in.RecordingsDays; v != nil {
		if *v < 1 || *v > MaxRecordingsDays {
			return p, domain.Invalid("recordings_days", "recordings_days must be between 1 and %d days after the note is signed.", MaxRecordingsDays)
		}
		p.RecordingsDays = *v
	}
	b, _ := json.Marshal(p)
	if err := s.o.Store.PutSetting(ctx, settingsKey, string(b)); err != nil {
		return p, err
	}
	return p, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: ResourceRetention,
		Detail: fmt.Sprintf("clinical_records_years=%d audit_events_years=%d recordings_days=%d", p.ClinicalRecordsYears, p.AuditEventsYears, p.RecordingsDays)})
}

// holdResource is a patient's legal hold (all of them for ""), as the
// policy sees it for the caller: admins and privacy officers hold them.
func (s *Service) holdResource(ctx context.Context, patientID string) (policy.Resource, error) {
	res := policy.Resource{Type: policy.LegalHold, ID: patientID, PatientID: patientID}
	p := domain.PrincipalFrom(ctx)
	if p == nil || p.Role == domain.RoleAdmin {
		return res, nil
	}
	officers, err := s.o.Store.PrivacyOfficers(ctx)
	res.PrivacyOfficer = slices.Contains(officers, p.UserID)
	return res, err
}

// authorizeHold decides action on patientID's hold (all holds for "").
func (s *Service) authorizeHold(ctx context.Context, action, patientID string) error {
	res, err := s.holdResource(ctx, patientID)
	if err != nil {
		return err
	}
	return s.o.Guard.Authorize(ctx, action, res)
}

// Holds lists the legal holds in force (admins and privacy officers).
func (s *Service) Holds(ctx context.Context) ([]*domain.LegalHold, error) {
	if err := s.authorizeHold(ctx, policy.List, ""); err != nil {
		return nil, err
	}
	hs, err := s.o.Store.ListLegalHolds(ctx)
	if err != nil {
		return nil, err
	}
	evs := make([]audit.Event, 0, len(hs))
	for _, h := range hs {
		evs = append(evs, audit.Event{Action: domain.ActionRead, ResourceType: ResourceLegalHold, ResourceID: h.PatientID, PatientID: h.PatientID})
	}
	return hs, audit.RecordEach(ctx, s.o.Audit, evs)
}

// MaxReasonLength bounds a hold's reason.
const MaxReasonLength = 500

// PlaceHold puts a legal hold on a patient (admins and privacy officers),
// with a reason; the hold and who placed it are audited, naming the
// patient.
func (s *Service) PlaceHold(ctx context.Context, patientID, reason string) (*domain.LegalHold, error) {
	if err := s.authorizeHold(ctx, policy.Update, patientID); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return nil, domain.Invalid("reason", "Say why the patient's data must be kept (the matter or request the hold is for).")
	case utf8.RuneCountInString(reason) > MaxReasonLength:
		return nil, domain.Invalid("reason", "The reason is longer than %d characters.", MaxReasonLength)
	}
	if _, err := s.o.Store.PatientByID(ctx, patientID); err != nil {
		if domain.IsCode(err, domain.ENOTFOUND) {
			return nil, domain.Errorf(domain.ENOTFOUND, "There is no patient %q.", patientID)
		}
		return nil, err
	}
	p := domain.PrincipalFrom(ctx)
	h := &domain.LegalHold{PatientID: patientID, Reason: reason, PlacedAt: s.o.Now().UTC().Truncate(time.Microsecond)}
	if p != nil {
		h.PlacedBy = p.UserID
	}
	if err := s.o.Store.PutLegalHold(ctx, h); err != nil {
		if domain.IsCode(err, domain.ECONFLICT) {
			return nil, domain.Errorf(domain.ECONFLICT, "This patient is already on legal hold.")
		}
		return nil, err
	}
	return h, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: ResourceLegalHold,
		ResourceID: patientID, PatientID: patientID, Detail: "legal_hold_placed"})
}

// LiftHold lifts a patient's legal hold (admins and privacy officers);
// audited, naming the patient. The next purge treats the patient like any
// other.
func (s *Service) LiftHold(ctx context.Context, patientID string) error {
	if err := s.authorizeHold(ctx, policy.Update, patientID); err != nil {
		return err
	}
	if err := s.o.Store.DeleteLegalHold(ctx, patientID); err != nil {
		return err
	}
	return s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionDelete, ResourceType: ResourceLegalHold,
		ResourceID: patientID, PatientID: patientID, Detail: "legal_hold_lifted"})
}

// Report is what a run removed (or, dry, would remove).
type Report struct {
	DryRun bool   `json:"dry_run"`
	Policy Policy `json:"policy"`
	// ClinicalBefore: patients whose last contact is before it are purged.
	ClinicalBefore time.Time `json:"clinical_before"`
	// AuditBefore: audit events before it are removed from the log's start.
	AuditBefore time.Time `json:"audit_before"`
	// RecordingsSignedBefore: the audio of consultations signed before it
	// is removed; RecordingsPurged counts the recordings, BlobsDeleted
	// the stored files that went with them.
	RecordingsSignedBefore time.Time `json:"recordings_signed_before"`
	RecordingsPurged       int       `json:"recordings_purged"`
	BlobsDeleted           int       `json:"blobs_deleted"`
	domain.PatientPurge
	// LegalHolds is the number of holds in force (their patients were
	// left alone).
	LegalHolds int `json:"legal_holds"`
	// AuditEventsDeleted: events removed from the start of the log (dry:
	// that would be).
	AuditEventsDeleted int64 `json:"audit_events_deleted"`
	// AuditAnchorSeq is the last event removed so far from the log's start.
	AuditAnchorSeq int64 `json:"audit_anchor_seq"`
}

// purgeBatch is how many patients one query finds; each is purged in a
// transaction of its own.
const purgeBatch = 200

// Run applies the policy once. Called with an administrator's principal in
// ctx (the API), it is authorised and recorded as theirs; without one (the
// background job, the command line), as the system's. Every run, dry or
// not, records one audit event with the policy and the counts; a second
// run right after removes nothing.
func (s *Service) Run(ctx context.Context, dryRun bool) (Report, error) {
	actor := domain.PrincipalFrom(ctx)
	if actor != nil {
		if err := s.o.Guard.Authorize(ctx, policy.Update, settingsResource); err != nil {
			return Report{}, err
		}
	} else {
		actor = domain.System
	}
	pol, err := s.policy(ctx)
	if err != nil {
		return Report{}, err
	}
	now := s.o.Now().UTC()
	r := Report{DryRun: dryRun, Policy: pol,
		ClinicalBefore:         now.AddDate(-pol.ClinicalRecordsYears, 0, 0),
		AuditBefore:            now.AddDate(-max(pol.AuditEventsYears, AuditFloorYears), 0, 0),
		RecordingsSignedBefore: now.AddDate(0, 0, -pol.RecordingsDays)}
	runErr := s.run(ctx, &r, now)
	ev := audit.Event{Action: domain.ActionDelete, ResourceType: ResourceRetention, Actor: actor, Detail: r.detail()}
	if runErr != nil {
		ev.Outcome = domain.OutcomeFailure
	}
	if err := s.o.Audit.Record(ctx, ev); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		s.o.Logger.Error("retention run failed", "err", runErr)
		return r, runErr
	}
	s.o.Logger.Info("retention run", "dry_run", dryRun, "patients", r.Patients, "audit_pseudonymised", r.AuditPseudonymised,
		"audit_events_deleted", r.AuditEventsDeleted)
	return r, nil
}

func (r *Report) detail() string {
	return fmt.Sprintf("dry_run=%t clinical_records_years=%d audit_events_years=%d %s audit_events_deleted=%d legal_holds=%d",
		r.DryRun, r.Policy.ClinicalRecordsYears, r.Policy.AuditEventsYears, r.counts(), r.AuditEventsDeleted, r.LegalHolds)
}

func (r *Report) counts() string {
	return fmt.Sprintf("patients=%d appointments=%d clinical_entries=%d conversations=%d consultations=%d recordings_purged=%d blobs_deleted=%d audit_pseudonymised=%d",
		r.Patients, r.Appointments, r.ClinicalEntries, r.Conversations, r.Consultations, r.RecordingsPurged, r.BlobsDeleted, r.AuditPseudonymised)
}

func (s *Service) run(ctx context.Context, r *Report, now time.Time) error {
	holds, err := s.o.Store.ListLegalHolds(ctx)
	if err != nil {
		return err
	}
	r.LegalHolds = len(holds)
	if err := s.purgePatients(ctx, r, now); err != nil {
		return err
	}
	if err := s.purgeRecordings(ctx, r, now); err != nil {
		return err
	}
	if err := s.deleteBlobGarbage(ctx, r); err != nil {
		return err
	}
	return s.purgeAudit(ctx, r, now)
}

// purgeRecordings removes the audio of consultations signed longer ago
// than the policy keeps recordings, patients on legal hold excepted; each
// removal is audited under its patient.
func (s *Service) purgeRecordings(ctx context.Context, r *Report, now time.Time) error {
	seen := map[string]bool{}
	for {
		recs, err := s.o.Store.RecordingsSignedBefore(ctx, r.RecordingsSignedBefore, purgeBatch)
		if err != nil {
			return err
		}
		fresh := 0
		for _, rec := range recs {
			if seen[rec.ID] {
				continue
			}
			seen[rec.ID], fresh = true, fresh+1
			r.RecordingsPurged++
			if r.DryRun {
				continue
			}
			n, err := s.o.Store.PurgeRecordingAudio(ctx, rec.ID, now)
			if err != nil {
				return err
			}
			if err := s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionDelete, ResourceType: "recording", ResourceID: rec.ID, PatientID: rec.PatientID,
				Actor: domain.System, Detail: fmt.Sprintf("retention recordings_days=%d chunks=%d", r.Policy.RecordingsDays, n)}); err != nil {
				return err
			}
		}
		if fresh == 0 || len(recs) < purgeBatch || r.DryRun {
			return nil
		}
	}
}

// deleteBlobGarbage deletes the stored files no recording refers to any
// more (purged recordings, purged patients), then forgets them.
func (s *Service) deleteBlobGarbage(ctx context.Context, r *Report) error {
	if s.o.Blobs == nil || r.DryRun {
		return nil
	}
	for {
		keys, err := s.o.Store.BlobGarbage(ctx, purgeBatch)
		if err != nil || len(keys) == 0 {
			return err
		}
		for _, k := range keys {
			if err := s.o.Blobs.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete a purged recording's audio: %w", err)
			}
		}
		if err := s.o.Store.DropBlobGarbage(ctx, keys); err != nil {
			return err
		}
		r.BlobsDeleted += len(keys)
		if len(keys) < purgeBatch {
			return nil
		}
	}
}

func (s *Service) purgePatients(ctx context.Context, r *Report, now time.Time) error {
	var key []byte
	seen := map[string]bool{}
	for {
		ids, err := s.o.Store.PatientsLastContactBefore(ctx, r.ClinicalBefore, purgeBatch)
		if err != nil {
			return err
		}
		fresh := 0
		for _, id := range ids {
			if seen[id] {
				continue // left alone (a hold placed meanwhile): not again
			}
			seen[id] = true
			fresh++
			if r.DryRun {
				r.Patients++
				continue
			}
			if key == nil {
				if key, err = s.pseudonymKey(ctx); err != nil {
					return err
				}
			}
			got, err := s.o.Store.PurgePatient(ctx, id, r.ClinicalBefore, Pseudonym(key, id), now)
			if err != nil {
				return err
			}
			r.PatientPurge.Add(got)
		}
		if fresh == 0 || len(ids) < purgeBatch {
			return nil
		}
	}
}

func (s *Service) purgeAudit(ctx context.Context, r *Report, now time.Time) error {
	headSeq, _, err := s.o.Store.AuditHead(ctx)
	if err != nil {
		return err
	}
	maxSeq := headSeq
	if s.o.AuditKeptFrom != nil {
		kept, err := s.o.AuditKeptFrom(ctx)
		if err != nil {
			return err
		}
		if kept > 0 {
			maxSeq = min(maxSeq, kept-1)
		}
	}
	if !r.DryRun {
		if r.AuditEventsDeleted, err = s.o.Store.PurgeAuditBefore(ctx, r.AuditBefore, maxSeq, now); err != nil {
			return err
		}
	}
	if r.AuditAnchorSeq, _, err = s.o.Store.AuditAnchor(ctx); err != nil || !r.DryRun {
		return err
	}
	// Dry: count the prefix a purge would remove.
	after := r.AuditAnchorSeq
	for {
		page, err := s.o.Store.ScanAudit(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, e := range page {
			if e.Seq > maxSeq || !e.Time.Before(r.AuditBefore) {
				return nil
			}
			r.AuditEventsDeleted++
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}

// farFuture stands for "whatever the last contact" in PurgePatient.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// PurgeDeletedPatient removes this installation's copy of a patient its
// upstream purged, whatever the last contact here, unless the patient is
// on legal hold here; their audit events here stay under this
// installation's pseudonym. The purge is recorded as the system's.
func (s *Service) PurgeDeletedPatient(ctx context.Context, patientID string) error {
	key, err := s.pseudonymKey(ctx)
	if err != nil {
		return err
	}
	got, err := s.o.Store.PurgePatient(ctx, patientID, farFuture, Pseudonym(key, patientID), s.o.Now().UTC())
	if err != nil || got == (domain.PatientPurge{}) {
		return err
	}
	r := Report{PatientPurge: got}
	return s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionDelete, ResourceType: ResourceRetention, Actor: domain.System,
		Detail: "source=upstream " + r.counts()})
}

// Pseudonym is the keyed pseudonym of a patient identifier: "pn-" and the
// first 16 bytes of HMAC-SHA256 under the installation's pseudonym key, in
// hex. The same patient always gets the same pseudonym, so a purged
// patient's events still read as one person's; without the key it cannot
// be linked back to the identifier.
func Pseudonym(key []byte, patientID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(patientID))
	return "pn-" + hex.EncodeToString(m.Sum(nil)[:16])
}

// pseudonymKey is the installation's pseudonym key, made on first use and
// kept sealed under the keyring in the settings (replicas agree on the
// first one stored).
func (s *Service) pseudonymKey(ctx context.Context) ([]byte, error) {
	sealed, ok, err := s.o.Store.Setting(ctx, pseudonymKey)
	if err != nil {
		return nil, err
	}
	if !ok {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		fresh, err := s.o.Keys.Seal(k, sealContext)
		if err != nil {
			return nil, err
		}
		if sealed, err = s.o.Store.PutSettingIfAbsent(ctx, pseudonymKey, fresh); err != nil {
			return nil, err
		}
	}
	k, err := s.o.Keys.Open(sealed, sealContext)
	if err != nil {
		return nil, fmt.Errorf("open the audit pseudonym key: %w", err)
	}
	return k, nil
}
