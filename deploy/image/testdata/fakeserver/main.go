// Command fakeserver stands in for healthhubd where a test needs a small
// binary to put in an image: it answers the version command like
// healthhubd, with the version its build stamps in.
package main

import (
	"fmt"
	"net"
	"os"
)

var version = "devel"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		fmt.Println("healthhubd", version)
		return
	}
	// net makes a build with cgo link the C library, as healthhubd would.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln.Close()
}
