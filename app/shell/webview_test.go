package shell

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWebViewEnvironment(t *testing.T) {
	unset := func(string) string { return "" }
	noGPU := t.TempDir()
	gpus := t.TempDir()
	for _, name := range []string{"card0", "renderD129", "renderD128"} {
		if err := os.WriteFile(filepath.Join(gpus, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	got := WebViewEnvironment("linux", unset, noGPU)
	want := map[string]string{"GDK_GL": "disable", "WEBKIT_DISABLE_DMABUF_RENDERER": "1", "WEBKIT_WEB_RENDER_DEVICE_FILE": NoRenderDevice}
	if len(got) != len(want) {
		t.Fatalf("without a GPU: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("without a GPU: %s=%q, want %q", k, got[k], v)
		}
	}

	if d := WebViewEnvironment("linux", unset, gpus)["WEBKIT_WEB_RENDER_DEVICE_FILE"]; d != filepath.Join(gpus, "renderD128") {
		t.Errorf("with render nodes the first is named, got %q", d)
	}

	// What the computer set stays.
	own := func(k string) string {
		if k == "WEBKIT_DISABLE_DMABUF_RENDERER" {
			return "0"
		}
		return ""
	}
	got = WebViewEnvironment("linux", own, noGPU)
	if _, set := got["WEBKIT_DISABLE_DMABUF_RENDERER"]; set || got["GDK_GL"] != "disable" {
		t.Errorf("a variable already set was changed, or the others not set: %v", got)
	}

	for _, goos := range []string{"windows", "darwin"} {
		if got := WebViewEnvironment(goos, unset, gpus); len(got) != 0 {
			t.Errorf("%s: %v, want nothing", goos, got)
		}
	}
}
