//go:build linux && desktop

package webview

/*
#cgo linux pkg-config: gtk+-3.0
#cgo !webkit2_41 pkg-config: webkit2gtk-4.0
#cgo webkit2_41 pkg-config: webkit2gtk-4.1
#include <stdint.h>
void healthhub_grant(uintptr_t decide, int mock_capture);
*/
import "C"

import (
	"runtime"
	"runtime/cgo"

	"github.com/healthhub/healthhub/app/shell"
)

// The kinds of request as grant_linux.c numbers them.
var kinds = [...]shell.PermissionKind{shell.AskOther, shell.AskUserMedia, shell.AskDeviceInfo, shell.AskGeolocation, shell.AskNotification}

// Grant sets up every WebKitWebView of this process as it starts its
// first page, before the page runs: media capture (getUserMedia) and Web
// Audio on, and each permission request answered by o.Decide.
// Call it once, from the goroutine that then calls wails.Run, before the
// window is made: WebKit takes the thread that first touches it for the
// one its window runs on, so Grant locks the goroutine to its thread, as
// Wails does when it starts GTK.
func Grant(o Options) {
	runtime.LockOSThread()
	if o.Decide == nil {
		o.Decide = func(shell.PermissionRequest) bool { return false }
	}
	mock := 0
	if o.MockCapture {
		mock = 1
	}
	// The handle lives as long as the process: the web view may ask at
	// any time until the app ends.
	C.healthhub_grant(C.uintptr_t(cgo.NewHandle(o.Decide)), C.int(mock))
}

//export healthhubDecide
func healthhubDecide(decide C.uintptr_t, kind, audio, video, display C.int, page *C.char) C.int {
	k := shell.AskOther
	if int(kind) < len(kinds) {
		k = kinds[kind]
	}
	r := shell.PermissionRequest{Kind: k, Audio: audio != 0, Video: video != 0, Display: display != 0, Page: C.GoString(page)}
	if cgo.Handle(decide).Value().(Decide)(r) {
		return 1
	}
	return 0
}
