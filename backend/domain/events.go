package domain

import (
	"context"
	"encoding/json"
	"time"
)

// Live event types pushed to connected clients.
const (
	EventAppointmentBooked    = "appointment.booked"
	EventAppointmentChanged   = "appointment.changed"
	EventAppointmentCancelled = "appointment.cancelled"
	EventNotification         = "notification.created"
	EventIngestion            = "knowledge.ingestion"
)

// Event is a change that connected clients may want to see at once. The
// audience says who may receive it: the listed accounts, and everyone whose
// role is listed. Clients receive only Type, ID, At and Data.
type Event struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data,omitempty"`
	UserIDs []string        `json:"user_ids,omitempty"`
	Roles   []Role          `json:"roles,omitempty"`
}

// For reports whether the event may go to the given account.
func (e *Event) For(userID string, role Role) bool {
	for _, id := range e.UserIDs {
		if id == userID {
			return true
		}
	}
	for _, r := range e.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Publisher sends events to every server process's connected clients.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}
