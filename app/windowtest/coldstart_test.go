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
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkColdStart launches the app b.N times on one standalone data
// folder with a clinic administrator and no saved session, and reports how
// long each took from launch to its sign-in page: the median, the 95th
// percentile and the slowest, in milliseconds. Each launch is a new
// process; the system's file cache is warm, as it is on a workstation
// where HealthHub ran before.
func BenchmarkColdStart(b *testing.B) {
	app := env("HEALTHHUB_DESKTOP_BINARY", "../../bin/healthhub")
	server := env("HEALTHHUB_SERVER_BINARY", "../../bin/healthhubd")
	if os.Getenv("DISPLAY") == "" {
		b.Fatal("no DISPLAY: run this through make desktop-bench, which starts Xvfb")
	}
	root := b.TempDir()
	dataDir := filepath.Join(root, "data")
	create := exec.Command(server, "user", "create", "--email", adminEmail, "--role", "admin", "--name", "Ada Admin", "--password-stdin")
	create.Env = append(os.Environ(), "HEALTHHUB_DATA_DIR="+dataDir)
	create.Stdin = strings.NewReader(adminPassword + "\n")
	if out, err := create.CombinedOutput(); err != nil {
		b.Fatalf("create the administrator: %v\n%s", err, out)
	}
	shown := regexp.MustCompile(`msg="page shown" path=/login `)

	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, app)
		// A new settings folder each time: no window size or session from
		// the launch before.
		cmd.Env = append(os.Environ(), "HEALTHHUB_DATA_DIR="+dataDir, "HEALTHHUB_DESKTOP_MODE=standalone",
			"HEALTHHUB_DESKTOP_CONFIG_DIR="+filepath.Join(root, fmt.Sprintf("config-%d", i)))
		stderr, _ := cmd.StderrPipe()
		cmd.Stdout = io.Discard
		log := &appLog{added: make(chan struct{}, 1)}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		go log.read(stderr, io.Discard)
		log.wait(b, shown, 30*time.Second)
		took = append(took, time.Since(start))
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil && ctx.Err() != nil {
			b.Fatalf("the app did not exit after SIGTERM: %v", err)
		}
		cancel()
	}
	b.StopTimer()
	slices.Sort(took)
	at := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1)+0.5)].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(at(1), "max-ms")
}
