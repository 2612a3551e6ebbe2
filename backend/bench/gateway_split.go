package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// The gateway scenario can split the machine in two: HealthHub runs in a
// process of its own, kept on one CPU, while the clients and the fake model
// service run in this process on another. In one process HealthHub shares
// every CPU (and the garbage collector) with its load generator; split, it
// has one core to itself, but every hop of a chat then crosses CPUs, which
// on a virtual machine adds wake-up latency of its own. The report names
// the layout.

// gatewayServerEnv, when set in a process's environment, makes it the
// gateway scenario's HealthHub (see ServeGatewayChild); it holds the
// gatewayServerSpec as JSON.
const gatewayServerEnv = "HEALTHHUB_BENCH_GATEWAY_SERVER"

type gatewayServerSpec struct {
	Upstream  string `json:"upstream"`
	External  bool   `json:"external"`
	Retrieval bool   `json:"retrieval"`
	Clients   int    `json:"clients"`
	TempDir   string `json:"temp_dir"`
	CPU       int    `json:"cpu"`
}

// gatewayReady is the line the child writes once it serves.
type gatewayReady struct {
	Base string `json:"base"`
	Key  string `json:"key"`
}

// ServeGatewayChild serves as the gateway scenario's HealthHub when this
// process was started as one, and reports whether it was. Programs that run
// BenchGateway call it first thing in main (or TestMain). The child serves
// until its standard input closes.
func ServeGatewayChild(ctx context.Context) (bool, error) {
	raw := os.Getenv(gatewayServerEnv)
	if raw == "" {
		return false, nil
	}
	var spec gatewayServerSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return true, fmt.Errorf("%s: %w", gatewayServerEnv, err)
	}
	return true, serveGateway(ctx, spec, os.Stdin, os.Stdout, os.Stderr)
}

func serveGateway(ctx context.Context, spec gatewayServerSpec, stdin io.Reader, stdout, stderr io.Writer) error {
	if _, err := pinProcess(spec.CPU); err != nil {
		return fmt.Errorf("keep HealthHub on CPU %d: %w", spec.CPU, err)
	}
	runtime.GOMAXPROCS(1)
	o := Options{TempDir: spec.TempDir, Log: stderr}.withDefaults()
	if err := ensureOpenFiles(uint64(spec.Clients)*2 + 256); err != nil {
		return err
	}
	base, key, stop, err := openGateway(ctx, o, spec.Upstream, spec.External, spec.Retrieval, spec.Clients)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(gatewayReady{Base: base, Key: key}); err != nil {
		return errors.Join(err, stop())
	}
	io.Copy(io.Discard, stdin)
	return stop()
}

// gatewaySplit starts HealthHub children on cpu.
type gatewaySplit struct {
	cpu int
	exe string
	log io.Writer
}

// start runs a HealthHub child for spec and returns its address, its API
// key and a function that stops it and waits for it to exit.
func (g *gatewaySplit) start(ctx context.Context, spec gatewayServerSpec) (base, key string, stop func() error, err error) {
	spec.CPU = g.cpu
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.CommandContext(ctx, g.exe)
	cmd.Env = append(os.Environ(), gatewayServerEnv+"="+string(raw))
	stderr := &tailBuffer{max: 4096, also: g.log}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", "", nil, fmt.Errorf("start HealthHub: %w", err)
	}
	stop = func() error {
		in.Close()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("HealthHub child: %w: %s", err, stderr)
		}
		return nil
	}
	ready := make(chan error, 1)
	var r gatewayReady
	go func() {
		line, err := bufio.NewReader(out).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &r)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(2 * time.Minute):
		err = errors.New("HealthHub did not start within 2 minutes")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		cmd.Process.Kill()
		return "", "", nil, errors.Join(fmt.Errorf("start HealthHub: %w", err), stop())
	}
	return r.Base, r.Key, stop, nil
}

// tailBuffer keeps the last max bytes written to it, passing them on to
// also when set.
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	buf  bytes.Buffer
	also io.Writer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.also != nil {
		t.also.Write(p)
	}
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
