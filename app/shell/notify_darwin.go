package shell

import (
	"os/exec"
	"strconv"
)

// Notify shows n in the macOS Notification Centre.
func Notify(n Notification) error {
	n = n.clean()
	script := "display notification " + strconv.Quote(n.Body) + " with title " + strconv.Quote(n.Title)
	return exec.Command("osascript", "-e", script).Run()
}
