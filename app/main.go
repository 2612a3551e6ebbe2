// Command HealthHub is the desktop app: a window showing the web UI, with
// the server running inside it (standalone) or a connection to a clinic
// server or the hosted service.
package main

import (
	"fmt"
	"os"

	"github.com/healthhub/healthhub/app/shell"
	"github.com/healthhub/healthhub/app/webview"
	"github.com/wailsapp/wails/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "HealthHub:", err)
		os.Exit(1)
	}
}

func run() error {
	shell.LimitMemory()
	if err := shell.PrepareWebView(); err != nil {
		return err
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return err
	}
	d, err := newDesktop(cfg)
	if err != nil {
		return err
	}
	defer d.close()
	webview.Grant(webview.Options{Decide: d.decidePermission, MockCapture: os.Getenv("HEALTHHUB_DESKTOP_MOCK_CAPTURE") == "1"})
	return wails.Run(d.options())
}
