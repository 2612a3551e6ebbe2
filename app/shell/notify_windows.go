package shell

import (
	"os/exec"
	"strings"
	"syscall"
)

// toastScript shows a Windows toast; the title and body come in as
// environment variables, never as script text.
const toastScript = `[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null
$t = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02)
$x = $t.GetElementsByTagName('text')
$x.Item(0).AppendChild($t.CreateTextNode($env:HEALTHHUB_TOAST_TITLE)) > $null
$x.Item(1).AppendChild($t.CreateTextNode($env:HEALTHHUB_TOAST_BODY)) > $null
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('HealthHub').Show([Windows.UI.Notifications.ToastNotification]::new($t))`

// Notify shows n as a Windows toast notification.
func Notify(n Notification) error {
	n = n.clean()
	cmd := exec.Command("powershell.exe", "-NoProfile", "-NonInteractive", "-Command", strings.ReplaceAll(toastScript, "\n", "; "))
	cmd.Env = append(cmd.Environ(), "HEALTHHUB_TOAST_TITLE="+n.Title, "HEALTHHUB_TOAST_BODY="+n.Body)
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true}
	return cmd.Run()
}
