package shell

import (
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/windows/registry"
)

// appUserModelID names the app to Windows' notification centre. Windows
// shows a desktop app's toasts only when the ID is registered, under
// Software\Classes\AppUserModelId for the user (or a Start-menu shortcut
// carrying it); the app registers it itself, once per user.
const appUserModelID = "HealthHub.Desktop"

var registerOnce sync.Once

func registerAppUserModelID() {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, `Software\Classes\AppUserModelId\`+appUserModelID, registry.SET_VALUE)
	if err != nil {
		return // the toast is tried all the same
	}
	defer k.Close()
	_ = k.SetStringValue("DisplayName", "HealthHub")
}

// toastScript shows a Windows toast; the title and body come in as
// environment variables, never as script text.
const toastScript = `[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null
$t = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02)
$x = $t.GetElementsByTagName('text')
$x.Item(0).AppendChild($t.CreateTextNode($env:HEALTHHUB_TOAST_TITLE)) > $null
$x.Item(1).AppendChild($t.CreateTextNode($env:HEALTHHUB_TOAST_BODY)) > $null
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier($env:HEALTHHUB_TOAST_APP).Show([Windows.UI.Notifications.ToastNotification]::new($t))`

// Notify shows n as a Windows toast notification.
func Notify(n Notification) error {
	n = n.clean()
	registerOnce.Do(registerAppUserModelID)
	cmd := exec.Command("powershell.exe", "-NoProfile", "-NonInteractive", "-Command", strings.ReplaceAll(toastScript, "\n", "; "))
	cmd.Env = append(cmd.Environ(), "HEALTHHUB_TOAST_TITLE="+n.Title, "HEALTHHUB_TOAST_BODY="+n.Body, "HEALTHHUB_TOAST_APP="+appUserModelID)
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true}
	return cmd.Run()
}
