package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
)

// runIngest indexes a folder once: `healthhubd ingest [--visibility V] PATH`.
// The folder becomes (or stays) a knowledge source, which a running server
// then keeps watching. Progress goes to stderr, the summary to stdout.
func runIngest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var fs *flag.FlagSet
	var visibility *string
	return withSystem(ctx, "ingest", args, getenv, stderr, func(f *flag.FlagSet) {
		fs = f
		visibility = f.String("visibility", domain.VisibilityStaff, "who may see answers from the folder: staff or everyone")
	}, func(s *System) error {
		if fs.NArg() != 1 {
			return &ExitError{Code: 2, Err: errors.New("usage: healthhubd ingest [--visibility staff|everyone] PATH")}
		}
		if *visibility != domain.VisibilityStaff && *visibility != domain.VisibilityEveryone {
			return &ExitError{Code: 2, Err: fmt.Errorf("--visibility must be staff or everyone, not %q", *visibility)}
		}
		src, err := s.Knowledge.EnsureFolder(ctx, fs.Arg(0), *visibility)
		if err != nil {
			return &ExitError{Code: 2, Err: errors.New(domain.ErrorMessage(err))}
		}
		if src.Visibility != *visibility {
			fmt.Fprintf(stderr, "note: %s is already a source visible to %s; that is kept\n", src.Path, src.Visibility)
		}
		start := time.Now()
		bar := progressBar{w: stderr}
		p, err := s.Knowledge.IngestFolder(ctx, src, bar.show)
		bar.done()
		if err != nil {
			return err
		}
		elapsed := time.Since(start)
		fmt.Fprintf(stdout, "%s: %d indexed, %d unchanged, %d removed, %d failed in %s",
			src.Path, p.Indexed, p.Unchanged, p.Removed, p.Failed, elapsed.Round(time.Millisecond))
		if secs := elapsed.Seconds(); p.Indexed > 0 && secs > 0 {
			fmt.Fprintf(stdout, " (%.0f documents/s)", float64(p.Indexed)/secs)
		}
		fmt.Fprintln(stdout)
		if p.Failed > 0 {
			failed, err := s.Store.FailedFiles(ctx, src.ID, 20)
			if err != nil {
				return err
			}
			for _, f := range failed {
				fmt.Fprintf(stdout, "  failed %s: %s\n", f.Path, f.Error)
			}
		}
		return nil
	})
}

// progressBar draws "[#####-----]  50/100 files" on one line, at most ten
// times a second.
type progressBar struct {
	w     io.Writer
	last  time.Time
	drawn bool
}

func (b *progressBar) show(p knowledge.Progress) {
	if p.Total == 0 || time.Since(b.last) < 100*time.Millisecond && p.Done < p.Total {
		return
	}
	b.last = time.Now()
	const width = 30
	n := width * p.Done / p.Total
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d files", strings.Repeat("#", n), strings.Repeat("-", width-n), p.Done, p.Total)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
