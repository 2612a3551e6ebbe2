package main

import (
	"os"
	"testing"
)

// TestMain keeps the tests away from the session bus: the keychain would
// otherwise be the user's own, and with no session running, looking for
// one starts a bus daemon (dbus-launch --autolaunch) that outlives the
// tests. Without a bus, sessions are kept in the encrypted file, as on a
// computer without a keychain.
func TestMain(m *testing.M) {
	os.Setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:")
	os.Exit(m.Run())
}
