//go:build !linux

package bench

import "errors"

func twoCPUs() (a, b int, ok bool) { return 0, 0, false }

func pinProcess(int) (func(), error) {
	return nil, errors.New("pinning to a CPU is only supported on Linux")
}
