// Package proccpu reads the CPU time processes have used from Linux's
// /proc, which benchmarks divide by the work done: a figure that the
// machine's other load does not change much, unlike wall-clock time.
package proccpu

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// ticksPerSecond is USER_HZ, 100 on Linux.
const ticksPerSecond = 100

// Of returns the CPU time (user and system) process pid has used; pid 0 is
// this process. ok is false where /proc cannot be read.
func Of(pid int) (_ time.Duration, ok bool) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return parse(b)
}

// Sum adds up Of over pids; ok is false if any cannot be read.
func Sum(pids []int) (total time.Duration, ok bool) {
	for _, pid := range pids {
		d, ok := Of(pid)
		if !ok {
			return 0, false
		}
		total += d
	}
	return total, true
}

// parse reads utime and stime from a stat line: the 12th and 13th fields
// after the command name, which ends with the last ")".
func parse(b []byte) (time.Duration, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / ticksPerSecond, true
}
