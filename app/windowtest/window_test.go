//go:build desktopwindow

// Package windowtest drives the built desktop app in a real window: under
// Xvfb (make desktop-test), with keystrokes from xdotool and screenshots
// from ImageMagick's import.
package windowtest

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	adminEmail    = "admin@clinic.example"
	adminPassword = "granite harbour lantern"
)

// appLog collects the app's log lines and lets a test wait for one.
type appLog struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func (l *appLog) read(r io.Reader, echo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
		fmt.Fprintln(echo, sc.Text())
		select {
		case l.added <- struct{}{}:
		default:
		}
	}
}

// wait returns the first line matching re, waiting up to d.
func (l *appLog) wait(t testing.TB, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if m := re.FindStringSubmatch(line); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the app did not log %v within %v", re, d)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// screenshot saves the screen once it shows more than a blank window: the
// page is drawn a moment after its controls are in place.
func screenshot(t *testing.T, out, name string) {
	t.Helper()
	file := filepath.Join(out, name+".png")
	deadline := time.Now().Add(60 * time.Second)
	for {
		run(t, "import", "-window", "root", file)
		n, bounds := colours(t, file)
		if n >= 20 {
			t.Logf("screenshot %s (%dx%d)", file, bounds.Dx(), bounds.Dy())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is nearly blank (%d colours)", file, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// colours counts the colours of a sample of an image's pixels.
func colours(t *testing.T, file string) (int, image.Rectangle) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	return len(seen), b
}

// memory is a process's resident memory in MB: all of it (VmRSS), its
// proportional share of pages shared with other processes (Pss), and the
// anonymous part that no other process shares (heaps, buffers).
type memory struct{ rss, pss, anon float64 }

func (m memory) add(o memory) memory { return memory{m.rss + o.rss, m.pss + o.pss, m.anon + o.anon} }

func (m memory) String() string {
	return fmt.Sprintf("RSS %.0f MB (PSS %.0f MB, anonymous %.0f MB)", m.rss, m.pss, m.anon)
}

func memoryOf(pid int) memory {
	var m memory
	field := func(file, name string) float64 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == name+":" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
		return 0
	}
	m.rss, m.anon = field("status", "VmRSS"), field("status", "RssAnon")
	m.pss = field("smaps_rollup", "Pss")
	return m
}

// residentMemory is the memory of pid and of its child processes
// (WebKit's web and network processes).
func residentMemory(pid int) (own, children memory) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The parent pid follows the command name in parentheses.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			children = children.add(memoryOf(p))
		}
	}
	return memoryOf(pid), children
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestDesktopWindow starts the app standalone with a new data folder, waits
// for the sign-in page, signs in by typing into the window, moves to the
// assistant page with the keyboard, and closes the app; the data folder's
// audit chain is intact afterwards.
func TestDesktopWindow(t *testing.T) {
	app := env("HEALTHHUB_DESKTOP_BINARY", "../../bin/healthhub")
	server := env("HEALTHHUB_SERVER_BINARY", "../../bin/healthhubd")
	out := env("HEALTHHUB_DESKTOP_OUT", t.TempDir())
	if os.Getenv("DISPLAY") == "" {
		t.Fatal("no DISPLAY: run this through make desktop-test, which starts Xvfb")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dataDir, configDir := filepath.Join(root, "data"), filepath.Join(root, "config")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	appEnv := append(os.Environ(), "HEALTHHUB_DATA_DIR="+dataDir, "HEALTHHUB_DESKTOP_CONFIG_DIR="+configDir, "HEALTHHUB_DESKTOP_MODE=standalone")
	logFile, err := os.Create(filepath.Join(out, "desktop.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// launch starts the app; its log lines are collected in the returned log.
	launch := func() (*exec.Cmd, *appLog, chan error) { return launchApp(t, ctx, app, appEnv, logFile) }
	started := time.Now()
	cmd, log, exited := launch()

	// A new data folder: the window opens on the first administrator's page.
	m := log.wait(t, regexp.MustCompile(`msg="page shown" path=/setup since_start_ms=(\d+)`), 90*time.Second)
	coldStart := time.Since(started)
	t.Logf("cold start to the first administrator's page: %d ms from launch (%s ms after the app's main began)", coldStart.Milliseconds(), m[1])
	conn := log.wait(t, regexp.MustCompile(`msg=connection state=(\w+) mode=(\w+)`), time.Second)
	if conn[1] != "ready" || conn[2] != "standalone" {
		t.Fatalf("connection %v", conn)
	}
	win := strings.Fields(run(t, "xdotool", "search", "--sync", "--onlyvisible", "--name", "^HealthHub$"))[0]
	w := openWindow(t, win)
	t.Cleanup(func() {
		if t.Failed() {
			exec.Command("import", "-window", "root", filepath.Join(out, "desktop-failed.png")).Run()
		}
	})
	w.find("push button", "^Create administrator$")
	screenshot(t, out, "desktop-setup")

	// The first administrator, made through the window; the app signs
	// them in.
	w.fill("entry", "^Your name$", "Ada Admin")
	w.fill("entry", "^E-mail address$", adminEmail)
	w.fill("password text", "^Password \\(", adminPassword)
	w.fill("password text", "^Password again$", adminPassword)
	w.press("push button", "^Create administrator$")
	log.wait(t, regexp.MustCompile(`msg="page shown" path=/ since_start_ms`), 90*time.Second)

	// Signed out and in again by typing, as on every later day.
	w.press("push button", "^Sign out$")
	log.wait(t, regexp.MustCompile(`msg="page shown" path=/login since_start_ms`), 90*time.Second)
	screenshot(t, out, "desktop-login")
	w.fill("entry", "^E-mail address$", adminEmail)
	w.fill("password text", "^Password$", adminPassword)
	w.press("push button", "^Sign in$")
	w.find("link", "^Assistant$")

	srv := api{t, log.wait(t, regexp.MustCompile(`msg="standalone server started" url=(\S+)`), time.Second)[1]}
	firstDay(t, w, log, srv, out)

	w.press("link", "^Assistant$")
	log.wait(t, regexp.MustCompile(`msg="page shown" path=/assistant since_start_ms`), 90*time.Second)
	screenshot(t, out, "desktop-assistant")
	// The app gives back what the sign-in's password hash took within its
	// trimming interval (15 s).
	time.Sleep(16 * time.Second)
	own, children := residentMemory(cmd.Process.Pid)
	t.Logf("memory after sign-in: the app %v; WebKit's web and network processes %v; together %v", own, children, own.add(children))
	// The app's own process draws without OpenGL: no Mesa driver in it.
	if maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	} else if m := regexp.MustCompile(`\S*(libLLVM|_dri\.so|libEGL_mesa)\S*`).Find(maps); m != nil {
		t.Errorf("the app's process loaded %s: OpenGL was started in it", m)
	}
	if info, err := os.Stat(app); err == nil {
		t.Logf("binary %s: %.1f MB", app, float64(info.Size())/(1<<20))
	}

	// The window's size is remembered once it changes.
	run(t, "xdotool", "windowsize", "--sync", win, "1100", "720")
	sizeSaved := regexp.MustCompile(`"width": 1100,\s+"height": 720`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(configDir, "settings.json")); sizeSaved.Match(b) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(configDir, "settings.json"))
			t.Fatalf("window size not saved: %s", b)
		}
	}

	// A second launch hands over to the first, whose window comes back.
	run(t, "xdotool", "windowunmap", "--sync", win)
	second, secondLog, secondExited := launch()
	select {
	case <-secondExited: // Wails ends it with status 1 once handed over
		secondLog.wait(t, regexp.MustCompile(`another instance is running`), time.Second)
		for _, line := range secondLog.lines {
			if strings.Contains(line, "standalone server started") {
				t.Fatal("the second launch opened the data folder")
			}
		}
	case <-time.After(20 * time.Second):
		second.Process.Kill()
		t.Fatal("a second launch kept running beside the first")
	}
	if shown := strings.Fields(run(t, "timeout", "10", "xdotool", "search", "--sync", "--onlyvisible", "--name", "^HealthHub$")); len(shown) != 1 || shown[0] != win {
		t.Fatalf("windows shown after the second launch: %v (first was %s)", shown, win)
	}

	// Closing the app shuts the server down cleanly.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the app did not exit after SIGTERM")
	}

	// Started again: the same window size, and still signed in (the
	// session was kept in the keychain, or its encrypted file).
	cmd, log, exited = launch()
	log.wait(t, regexp.MustCompile(`msg="page shown" path=/ since_start_ms`), 90*time.Second)
	again := strings.Fields(run(t, "xdotool", "search", "--sync", "--onlyvisible", "--name", "^HealthHub$"))[0]
	if geo := run(t, "xdotool", "getwindowgeometry", again); !strings.Contains(geo, "Geometry: 1100x720") {
		t.Fatalf("window after a restart: %s", geo)
	}
	screenshot(t, out, "desktop-restarted")
	for _, line := range log.lines {
		if strings.Contains(line, "path=/login") {
			t.Fatal("the restarted app asked to sign in again")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the app did not exit after SIGTERM")
	}
	verify := exec.Command(server, "audit", "verify")
	verify.Env = append(os.Environ(), "HEALTHHUB_DATA_DIR="+dataDir)
	if b, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("audit chain after the app closed: %v\n%s", err, b)
	}
	settings, err := os.ReadFile(filepath.Join(configDir, "settings.json"))
	if err != nil || !strings.Contains(string(settings), `"mode": "standalone"`) {
		t.Fatalf("settings after closing: %s %v", settings, err)
	}
}
