package shell

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
)

// NoRenderDevice names no device. WebKit is given it on a computer without
// a GPU render node, where it would otherwise start OpenGL in the app's own
// process only to learn that there is none.
const NoRenderDevice = "/dev/dri/none"

// WebViewEnvironment is what the window's web view is told through the
// environment before it starts, on Linux (WebKitGTK); elsewhere nothing.
// The app draws its pages with the CPU (it asks WebKit for no GPU
// compositing), so OpenGL is of no use in the app's own process, yet GTK
// and WebKit start it there by default: with Mesa that maps 44 MB of LLVM
// and takes a tenth of a second or more before the window shows.
//   - GDK_GL=disable: GTK draws the window with cairo and skips probing
//     OpenGL for its visuals.
//   - WEBKIT_DISABLE_DMABUF_RENDERER=1: pages come from the web process in
//     shared memory, which needs no OpenGL in this process.
//   - WEBKIT_WEB_RENDER_DEVICE_FILE: the GPU's render node (the first in
//     devDRI), which WebKit would otherwise look up through OpenGL here;
//     NoRenderDevice where there is none.
//
// A variable already set is left as it is, so a computer's own choice wins.
func WebViewEnvironment(goos string, getenv func(string) string, devDRI string) map[string]string {
	if goos != "linux" {
		return nil
	}
	device := NoRenderDevice
	if nodes, _ := filepath.Glob(filepath.Join(devDRI, "renderD*")); len(nodes) > 0 {
		sort.Strings(nodes)
		device = nodes[0]
	}
	env := map[string]string{}
	for k, v := range map[string]string{
		"GDK_GL":                         "disable",
		"WEBKIT_DISABLE_DMABUF_RENDERER": "1",
		"WEBKIT_WEB_RENDER_DEVICE_FILE":  device,
	} {
		if getenv(k) == "" {
			env[k] = v
		}
	}
	return env
}

// PrepareWebView sets WebViewEnvironment in this process, for GTK and the
// web view's processes, which inherit it. It must run before the window is
// made.
func PrepareWebView() error {
	for k, v := range WebViewEnvironment(runtime.GOOS, os.Getenv, "/dev/dri") {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}
