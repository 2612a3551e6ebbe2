package shell

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// PermissionKind is what a page in the window asks to use.
type PermissionKind string

// The kinds of request the window's web view passes on. Anything else it
// may ask in a later version is AskOther, and refused.
const (
	// AskUserMedia is getUserMedia: a microphone, a camera or the screen.
	AskUserMedia PermissionKind = "user-media"
	// AskDeviceInfo is the names of the capture devices (enumerateDevices).
	AskDeviceInfo   PermissionKind = "device-info"
	AskGeolocation  PermissionKind = "geolocation"
	AskNotification PermissionKind = "notification"
	AskOther        PermissionKind = "other"
)

// PermissionRequest is one request of a page in the window.
type PermissionRequest struct {
	Kind PermissionKind
	// Audio, Video and Display say which devices a UserMedia request is
	// for: a microphone, a camera, the screen.
	Audio, Video, Display bool
	// Page is the address of the page that asks.
	Page string
}

// PageOrigins are the origins whose pages are the app's own while c is the
// connection: the window's (Wails serves the UI from its own scheme) and
// that of the server the UI talks to (the in-process server, or the
// loopback proxy to the clinic server or hosted service).
func PageOrigins(c Connection) []string {
	own := slices.Clone(DesktopOrigins)
	if o := Origin(c.BaseURL); c.State == "ready" && o != "" {
		own = append(own, o)
	}
	return own
}

// Origin is an address's scheme and host (with its port), in lower case,
// as a browser compares them; "" for an address without a host (about:,
// data:, blob:), which is no page of the app's.
func Origin(address string) string {
	u, err := url.Parse(address)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// AllowPermission decides a page's request: the app's own pages (origins
// in own) may record from the microphone, for consultations, and nothing
// else is granted. A request for a camera or the screen is refused whole,
// even when it asks for the microphone too; so are the device names
// (getUserMedia works without them), location and notifications (the app
// shows those through the operating system itself).
func AllowPermission(r PermissionRequest, own []string) bool {
	if r.Kind != AskUserMedia || !r.Audio || r.Video || r.Display {
		return false
	}
	o := Origin(r.Page)
	return o != "" && slices.Contains(own, o)
}

// StartPath checks HEALTHHUB_DESKTOP_START_PATH, a page of the UI's own
// origin for the window to open first (such as /assistant): a path from
// the root, with no scheme or host, so that it can never lead the window
// to another site.
func StartPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	u, err := url.Parse(p)
	if err != nil || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\x00\r\n\t") || u.Scheme != "" || u.Host != "" {
		return "", fmt.Errorf("HEALTHHUB_DESKTOP_START_PATH %q is not a page of the app: write a path such as /assistant", p)
	}
	return p, nil
}
