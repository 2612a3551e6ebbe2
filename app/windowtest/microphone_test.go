//go:build desktopwindow

package windowtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDesktopMicrophone records in the window as a consultation does:
// the page calls getUserMedia({audio: true}) and reads the samples in an
// AudioWorklet at 16 kHz. Under Xvfb there is no sound card, so the test
// runs a PulseAudio server of its own whose microphone hears a 440 Hz
// tone; WebKit captures it through GStreamer as it would a real one. The
// window opens the UI's microphone check page (mic-check.html, through
// HEALTHHUB_DESKTOP_START_PATH), the test presses its button, and reads
// through the accessibility tree what the worklet counts: frames that go
// on arriving, at the tone's level (a sine of amplitude 0.5 has an RMS of
// 0.354). The app's log shows the shell granted the request. Then, with
// WebKit's generated devices (which include a camera), a page that asks
// for the camera as well is refused by the shell.
func TestDesktopMicrophone(t *testing.T) {
	app := env("HEALTHHUB_DESKTOP_BINARY", "../../bin/healthhub")
	out := env("HEALTHHUB_DESKTOP_OUT", t.TempDir())
	if os.Getenv("DISPLAY") == "" {
		t.Fatal("no DISPLAY: run this through make desktop-test, which starts Xvfb")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	pulse := startSoundServer(t, filepath.Join(root, "pulse"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	logFile, err := os.Create(filepath.Join(out, "desktop-microphone.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	appEnv := append(os.Environ(), "HEALTHHUB_DATA_DIR="+filepath.Join(root, "data"),
		"HEALTHHUB_DESKTOP_CONFIG_DIR="+filepath.Join(root, "config"), "HEALTHHUB_DESKTOP_MODE=standalone",
		"PULSE_SERVER="+pulse)
	t.Cleanup(func() {
		if t.Failed() {
			exec.Command("import", "-window", "root", filepath.Join(out, "desktop-microphone-failed.png")).Run()
		}
	})

	// The microphone, granted by the shell; the tone arrives in the worklet.
	cmd, log, exited := launchApp(t, ctx, app, append(appEnv, "HEALTHHUB_DESKTOP_START_PATH=/mic-check.html"), logFile)
	w := appWindow(t, cmd.Process.Pid)
	w.press("push button", "^Check the microphone$")
	status := regexp.MustCompile(`^Microphone on: (\d+) frames at (\d+) Hz, level \S+ dBFS \(RMS ([0-9.]+)\)`)
	var frames, rate int
	var rms float64
	read := func() bool {
		m := status.FindStringSubmatch(w.anyText(status))
		if m == nil {
			return false
		}
		frames, _ = strconv.Atoi(m[1])
		rate, _ = strconv.Atoi(m[2])
		rms, _ = strconv.ParseFloat(m[3], 64)
		return true
	}
	// A second of sound (125 frames of 128 samples at 16 kHz) at the tone's level.
	if !w.eventually(func() bool { return read() && frames >= 125 && rms > 0.25 }, 90*time.Second) {
		t.Fatalf("no sound in the window within 90 s: %d frames at %d Hz, RMS %.4f; the page shows %q\n%s",
			frames, rate, rms, w.anyText(regexp.MustCompile(`^(Microphone|Refused|This window|The microphone|Asking)`)), w.describe())
	}
	first := frames
	if !w.eventually(func() bool { return read() && frames >= first+125 }, 60*time.Second) {
		t.Fatalf("the frames stopped: %d, then %d within 60 s", first, frames)
	}
	if rate != 16000 || rms < 0.25 || rms > 0.45 {
		t.Fatalf("the worklet ran at %d Hz with RMS %.4f: want 16000 Hz and the tone's 0.354", rate, rms)
	}
	t.Logf("the worklet counted %d frames at %d Hz, RMS %.4f", frames, rate, rms)
	log.wait(t, regexp.MustCompile(`msg="permission request" kind=user-media audio=true video=false display=false origin=wails://wails allowed=true`), time.Second)
	screenshot(t, out, "desktop-microphone")
	stopApp(t, cmd, exited)

	// The camera, refused by the shell even with the microphone: WebKit's
	// generated devices stand in for a camera, which Xvfb has not.
	cmd, log, exited = launchApp(t, ctx, app, append(appEnv, "HEALTHHUB_DESKTOP_START_PATH=/mic-check.html?camera", "HEALTHHUB_DESKTOP_MOCK_CAPTURE=1"), logFile)
	w = appWindow(t, cmd.Process.Pid)
	w.press("push button", "^Check the camera and microphone$")
	w.waitText(`^Refused: NotAllowedError`)
	log.wait(t, regexp.MustCompile(`msg="permission request" kind=user-media audio=true video=true display=false origin=wails://wails allowed=false`), time.Second)
	screenshot(t, out, "desktop-camera-refused")
	stopApp(t, cmd, exited)
}

// startSoundServer runs a PulseAudio server in dir until the test ends and
// returns its address for PULSE_SERVER. A null sink, "room", plays a 440
// Hz sine; the microphone "mic" hears the room. It is a remap of the
// sink's monitor because WebKit offers no monitor as a microphone, and
// not PulseAudio's sine source, whose latency of most of a second makes
// WebKit's Web Audio drop every sample.
func startSoundServer(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("pulseaudio"); err != nil {
		t.Fatal("pulseaudio is not installed: make check-window-deps installs it")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "native")
	script := fmt.Sprintf(`load-module module-native-protocol-unix socket=%s auth-anonymous=1
load-module module-null-sink sink_name=room
load-module module-sine sink=room frequency=440
load-module module-remap-source master=room.monitor source_name=mic source_properties=device.description=Microphone
set-default-sink room
set-default-source mic
`, socket)
	if err := os.WriteFile(filepath.Join(dir, "default.pa"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(dir, "pulseaudio.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	server := exec.Command("pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes", "--use-pid-file=no",
		"--log-target=stderr", "-n", "-F", filepath.Join(dir, "default.pa"))
	// Its state and runtime folders are the test's, not the user's.
	server.Env = append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir, "XDG_CONFIG_HOME="+dir, "XDG_STATE_HOME="+dir)
	server.Stdout, server.Stderr = logs, logs
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { server.Wait(); close(exited) }()
	t.Cleanup(func() {
		server.Process.Kill()
		<-exited
	})
	address := "unix:" + socket
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		sources, _ := exec.Command("pactl", "--server", address, "list", "short", "sources").Output()
		if regexp.MustCompile(`(?m)^\d+\s+mic\s`).Match(sources) {
			return address
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "pulseaudio.log"))
			t.Fatalf("pulseaudio ended: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "pulseaudio.log"))
			t.Fatalf("pulseaudio offers no microphone within 60 s: %s\n%s", sources, b)
		}
	}
}

// launchApp starts the app with env; its log lines are collected in the
// returned log and written to logTo.
func launchApp(t *testing.T, ctx context.Context, app string, env []string, logTo io.Writer) (*exec.Cmd, *appLog, chan error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, app)
	cmd.Env = env
	stderr, _ := cmd.StderrPipe()
	stdout, _ := cmd.StdoutPipe()
	log := &appLog{added: make(chan struct{}, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go log.read(stderr, logTo)
	go io.Copy(logTo, stdout)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return cmd, log, exited
}

// stopApp closes the app as the session's end does, and waits for it.
func stopApp(t *testing.T, cmd *exec.Cmd, exited chan error) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the app did not exit after SIGTERM")
	}
}

// appWindow waits for the window of the app with process id pid and
// opens its accessibility tree: that of this process, not of one that
// ran before it and may not have left the accessibility bus yet.
func appWindow(t *testing.T, pid int) *window {
	t.Helper()
	xid := strings.Fields(run(t, "xdotool", "search", "--sync", "--onlyvisible", "--name", "^HealthHub$"))[0]
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		w := openWindow(t, xid)
		var owner uint32
		err := w.bus.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, w.root.Name).Store(&owner)
		if err == nil && int(owner) == pid {
			return w
		}
		w.bus.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the accessibility bus shows no HealthHub of process %d (found %s of %d: %v)", pid, w.root.Name, owner, err)
		}
	}
}
