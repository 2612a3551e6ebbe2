package shell

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// fakeNotifications is a notification service on a private session bus.
type fakeNotifications struct{ got chan [2]string }

func (f *fakeNotifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	f.got <- [2]string{summary, body}
	return 1, nil
}

func TestNotifyReachesTheSessionNotificationService(t *testing.T) {
	daemon := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address")
	out, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatalf("dbus-daemon (Debian package dbus-daemon) is needed: %v", err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", strings.TrimSpace(addr))

	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := &fakeNotifications{got: make(chan [2]string, 1)}
	if err := conn.Export(f, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own the service name: %v %v", reply, err)
	}

	if err := Notify(Notification{Title: "Appointment at 10:30", Body: "Dr Lee\x07 in room 2"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-f.got:
		if got != [2]string{"Appointment at 10:30", "Dr Lee in room 2"} {
			t.Fatalf("shown %q", got)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no notification arrived")
	}
	if n := (Notification{Title: strings.Repeat("x", 500)}).clean(); len([]rune(n.Title)) != 120 || !strings.HasSuffix(n.Title, "…") {
		t.Fatalf("long title %d runes", len([]rune(n.Title)))
	}
}
