// Package webview sets up the window's web view where Wails v2 leaves it
// as the platform made it: on Linux (WebKitGTK) media capture is off and
// every permission a page asks for is refused, so a consultation could
// not be recorded in the desktop window. Grant turns capture on and
// answers the page's requests as a decision function says.
package webview

import "github.com/healthhub/healthhub/app/shell"

// Decide answers one permission request of a page in the window: true
// grants it. It runs on the window's thread and must not block.
type Decide func(shell.PermissionRequest) bool

// Options are how the web view is set up.
type Options struct {
	// Decide answers the pages' permission requests; nil refuses them all.
	Decide Decide
	// MockCapture replaces the computer's microphones and cameras with
	// WebKit's generated ones (a tone and a test picture), for a test
	// without a sound card.
	MockCapture bool
}
