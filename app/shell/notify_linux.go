package shell

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// Notify shows n through the desktop's notification service
// (org.freedesktop.Notifications on the session bus).
func Notify(n Notification) error {
	n = n.clean()
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("no session bus for notifications: %w", err)
	}
	defer conn.Close()
	obj := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	call := obj.Call("org.freedesktop.Notifications.Notify", 0,
		"HealthHub", uint32(0), "", n.Title, n.Body, []string{}, map[string]dbus.Variant{}, int32(-1))
	if call.Err != nil {
		return fmt.Errorf("show notification: %w", call.Err)
	}
	return nil
}
