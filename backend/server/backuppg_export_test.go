package server

// The pgBackRest and Aurora command entry points, for the tests of package
// server_test (the dispatch from "healthhubd backup" lives elsewhere).
var (
	RunPostgresBackup  = runPostgresBackup
	RunPostgresRestore = runPostgresRestore
	PGBackRestStatusOf = pgBackRestStatus
)
