# HealthHub: every build, run, test and benchmark command.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
VERSION   := $(shell sed -n 's/.*"productVersion": *"\([^"]*\)".*/\1/p' wails.json)
LDFLAGS   := -s -w -X github.com/healthhub/healthhub/backend/server.Version=$(VERSION)
BIN       := bin
FUZZTIME  ?= 15s

# Use the local PostgreSQL for the second engine of the test suite when one
# answers and nothing else was configured.
PG_LOCAL  := postgres://postgres@127.0.0.1:5432/test?sslmode=disable
ifeq ($(HEALTHHUB_TEST_DATABASE_URL),)
  ifneq ($(shell command -v psql >/dev/null && psql '$(PG_LOCAL)' -qtAc 'SELECT 1' 2>/dev/null),)
    export HEALTHHUB_TEST_DATABASE_URL := $(PG_LOCAL)
  endif
endif

.PHONY: help run serve build test lint bench fuzz clean check-go

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

check-go:
	@command -v $(GO) >/dev/null || { echo "Go is not installed: install Go 1.26 or newer (https://go.dev/doc/install) and run make again." >&2; exit 1; }

run: check-go ## run HealthHub on the embedded SQLite database and print its URL
	$(GO) run -ldflags '$(LDFLAGS)' ./backend/cmd/healthhubd serve

serve: check-go ## run the server alone (same configuration variables as run)
	$(GO) run -ldflags '$(LDFLAGS)' ./backend/cmd/healthhubd serve

build: check-go ## build bin/healthhubd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/healthhubd ./backend/cmd/healthhubd

test: check-go ## vet, check formatting and run every test with the race detector
	@unformatted=$$(gofmt -l app backend frontend 2>/dev/null); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	@if [ -n "$$HEALTHHUB_TEST_DATABASE_URL" ]; then echo "store tests run on SQLite and on PostgreSQL"; else echo "store tests run on SQLite only (set HEALTHHUB_TEST_DATABASE_URL to add PostgreSQL)"; fi
	$(GO) test -race -count=1 -timeout 20m ./...

lint: check-go ## static checks
	@unformatted=$$(gofmt -l app backend frontend 2>/dev/null); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...

bench: check-go ## print throughput and latency figures for each engine
	@[ -n "$$HEALTHHUB_TEST_DATABASE_URL" ] || echo "PostgreSQL figures need HEALTHHUB_TEST_DATABASE_URL (or a PostgreSQL on 127.0.0.1:5432 with a database 'test')"
	$(GO) run ./backend/cmd/healthhub-bench

# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is busy (golang/go#75804, fixed
# in Go 1.27). Such a run wrote no failing input; it is run once more, and any
# other failure, or the same one twice, fails the target.
fuzz: check-go ## run every fuzz target for FUZZTIME each (default 15s)
	@set -eo pipefail; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    for try in 1 2; do \
	      echo "fuzz $$pkg $$target"; \
	      if $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee $$out; then break; fi; \
	      if [ $$try = 2 ] || ! grep -q 'context deadline exceeded' $$out || grep -q 'Failing input written' $$out; then exit 1; fi; \
	      echo "fuzz $$target: the fuzzing coordinator's deadline race (golang/go#75804), no failing input; running it again"; \
	    done; \
	  done; \
	done

clean: ## remove build output
	rm -rf $(BIN)
