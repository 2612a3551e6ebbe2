package domain

import "context"

// Store is everything HealthHub keeps. The SQLite and PostgreSQL engines both
// implement it and pass the same conformance suite.
type Store interface {
	UserStore
	SettingStore
	AuditStore
	ClinicStore
	KnowledgeStore
	ChatStore
	SyncStore
	EmergencyStore
	CanaryStore
	ConsultStore
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	// Engine names the storage engine: "sqlite" or "postgres".
	Engine() string
	Close() error
}
