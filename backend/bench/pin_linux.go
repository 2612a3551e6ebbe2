package bench

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// twoCPUs returns two CPUs this process may run on, when it has two.
func twoCPUs() (a, b int, ok bool) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, 0, false
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64 && len(cpus) < 2; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	if len(cpus) < 2 {
		return 0, 0, false
	}
	return cpus[0], cpus[1], true
}

// pinProcess keeps every thread of this process on cpu and returns a
// function that lets them run where they could before. Threads started
// later inherit the CPUs of the thread that starts them.
func pinProcess(cpu int) (restore func(), err error) {
	var before, only unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		return nil, err
	}
	only.Set(cpu)
	if err := setThreads(&only); err != nil {
		setThreads(&before)
		return nil, err
	}
	return func() { setThreads(&before) }, nil
}

// setThreads sets the CPUs of every thread, twice over, so that a thread
// started while the first pass ran is not missed.
func setThreads(set *unix.CPUSet) error {
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
		}
	}
	return nil
}
