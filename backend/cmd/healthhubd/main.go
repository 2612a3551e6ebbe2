// Command healthhubd is the HealthHub server.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/healthhub/healthhub/backend/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := server.Run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var exit *server.ExitError
		if errors.As(err, &exit) {
			fmt.Fprintln(os.Stderr, "healthhubd:", exit.Err)
			os.Exit(exit.Code)
		}
		fmt.Fprintln(os.Stderr, "healthhubd:", err)
		os.Exit(1)
	}
}
