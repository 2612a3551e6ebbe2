package portal

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// Store is what the service reads and writes: the methods of the store it
// uses (domain.Store has them all).
type Store interface {
	AppointmentByID(ctx context.Context, id string) (*domain.Appointment, error)
	AppointmentByIdempotencyKey(ctx context.Context, createdBy, key string) (*domain.Appointment, error)
	AppointmentCounts(ctx context.Context, from, to time.Time, offsetMinutes int) ([]domain.StatusCount, error)
	Availability(ctx context.Context, doctorID string) (*domain.Availability, error)
	BookAppointment(ctx context.Context, a *domain.Appointment, notes []*domain.Notification) error
	BookAppointmentQueued(ctx context.Context, a *domain.Appointment, notes []*domain.Notification, op *domain.SyncOp) error
	CreateEntry(ctx context.Context, e *domain.ClinicalEntry, change *domain.PatientChange) error
	CreatePatient(ctx context.Context, p *domain.Patient, account *domain.User, notes []*domain.Notification) error
	DeleteEntry(ctx context.Context, patientID, entryID string, change *domain.PatientChange) error
	DoctorByID(ctx context.Context, id string) (*domain.Doctor, error)
	DoctorByUserID(ctx context.Context, userID string) (*domain.Doctor, error)
	Entries(ctx context.Context, patientID, kind string) ([]*domain.ClinicalEntry, error)
	Entry(ctx context.Context, patientID, entryID string) (*domain.ClinicalEntry, error)
	ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error)
	ListDoctors(ctx context.Context, specialization string) ([]*domain.Doctor, error)
	ListNotifications(ctx context.Context, userID string, limit int) ([]*domain.Notification, error)
	ListPatients(ctx context.Context, f domain.PatientFilter) ([]*domain.Patient, error)
	MarkNotificationRead(ctx context.Context, userID, id string, at time.Time) error
	PatientByID(ctx context.Context, id string) (*domain.Patient, error)
	PatientByUserID(ctx context.Context, userID string) (*domain.Patient, error)
	PatientChanges(ctx context.Context, patientID string, limit int) ([]*domain.PatientChange, error)
	PutAvailability(ctx context.Context, a *domain.Availability) error
	TreatsPatient(ctx context.Context, doctorID, patientID string) (bool, error)
	UpdateAppointment(ctx context.Context, a *domain.Appointment, expectUpdated time.Time, notes []*domain.Notification) error
	UpdateAppointmentQueued(ctx context.Context, a *domain.Appointment, expectUpdated time.Time, notes []*domain.Notification, op *domain.SyncOp) error
	UpdateEntry(ctx context.Context, e *domain.ClinicalEntry, change *domain.PatientChange) error
	UpdatePatient(ctx context.Context, p *domain.Patient, change *domain.PatientChange) error
	UserByID(ctx context.Context, id string) (*domain.User, error)
}
