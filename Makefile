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

# The desktop app is a Wails v2 manual build: the tags select Wails'
# production frontend, and WebKitGTK 4.1 on Linux.
DESKTOP_TAGS := desktop,production
LINUX_TAGS   := $(DESKTOP_TAGS),webkit2_41
MSI          := $(BIN)/HealthHub-$(VERSION).msi

.PHONY: help run serve build test check go-test gofmt-check ui ui-test e2e ui-bench lint bench fuzz clean check-go check-node check-chromium \
	check-desktop-deps check-window-deps check-haproxy check-pgbackrest check-audio desktop desktop-windows desktop-test desktop-bench msi msi-test deb image

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

check-go:
	@command -v $(GO) >/dev/null || { echo "Go is not installed: install Go 1.26 or newer (https://go.dev/doc/install) and run make again." >&2; exit 1; }

# Node.js 20.19 or newer builds the web UI; Debian and Ubuntu get it from
# their packages when it is missing.
check-node:
	@if ! command -v npm >/dev/null; then \
	  echo "installing Node.js and npm from the distribution's packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends nodejs npm; \
	fi
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("Node.js "+process.versions.node+" is too old for the web UI: install Node.js 20.19 or newer and run make again."); process.exit(1) }'

UI_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts frontend/tsconfig.json

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json | check-node
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(UI_SOURCES)
	cd frontend && npm run build

ui: check-node frontend/dist/index.html ## build the web UI into frontend/dist (embedded by the Go build)

ui-test: check-node frontend/node_modules/.installed ## type-check the web UI and run its unit tests
	cd frontend && npm run typecheck && npm test

# The browser tests drive Debian's Chromium (playwright-core does not
# download browsers); it is installed from the packages when missing.
check-chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Chromium from the distribution's packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium; \
	fi

e2e: check-chromium build ## run the browser scenarios against a real healthhubd; screenshots and axe reports go to .e2e/
	cd frontend && HEALTHHUB_E2E_BINARY=$(CURDIR)/$(BIN)/healthhubd HEALTHHUB_E2E_OUT=$(CURDIR)/.e2e npm run e2e
	@echo "screenshots and accessibility reports: $(CURDIR)/.e2e/"

run: desktop ## open the desktop app; on a first start it runs standalone: the server inside, SQLite in the user's data folder
	HEALTHHUB_DESKTOP_MODE=$${HEALTHHUB_DESKTOP_MODE:-standalone} ./$(BIN)/healthhub

serve: check-go ui ## run the server alone on the embedded SQLite database and print its URL (healthhubd serve)
	$(GO) run -ldflags '$(LDFLAGS)' ./backend/cmd/healthhubd serve

# The desktop app's build needs GTK 3 and WebKitGTK 4.1; Debian and Ubuntu
# get them from their packages when they are missing.
check-desktop-deps:
	@if ! pkg-config --exists webkit2gtk-4.1 gtk+-3.0 2>/dev/null || ! command -v gcc >/dev/null; then \
	  echo "installing the desktop app's build dependencies from the distribution's packages"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends \
	    gcc libc6-dev pkg-config libgtk-3-dev libwebkit2gtk-4.1-dev; \
	fi

desktop: check-go check-desktop-deps ui ## build bin/healthhub, the desktop app for this machine (Linux: GTK 3, WebKitGTK 4.1)
	$(GO) build -tags $(LINUX_TAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/healthhub ./app

# The Windows resources (icon, version, DPI-aware manifest) go in a .syso
# that only Windows builds link.
desktop-windows: check-go ui ## cross-compile bin/HealthHub.exe for Windows without cgo, with its icon and version
	$(GO) run github.com/tc-hib/go-winres@v0.3.3 simply --arch amd64 --out app/rsrc --manifest gui --icon build/windows/icon.ico \
	  --product-name HealthHub --file-description HealthHub --original-filename HealthHub.exe \
	  --product-version $(VERSION) --file-version $(VERSION) --copyright 'Copyright © 2026 HealthHub'
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -tags $(DESKTOP_TAGS) -trimpath -ldflags '$(LDFLAGS) -H windowsgui' -o $(BIN)/HealthHub.exe ./app

# A real window under Xvfb: start standalone with a new data folder, wait
# for the sign-in page, sign in through the window, see the assistant page.
WINDOW_TEST := HEALTHHUB_DESKTOP_BINARY=$(CURDIR)/$(BIN)/healthhub HEALTHHUB_SERVER_BINARY=$(CURDIR)/$(BIN)/healthhubd \
	xvfb-run -a -s '-screen 0 1280x900x24' dbus-run-session -- $(GO) test -tags desktopwindow

# The microphone test runs a PulseAudio server of its own (pactl waits for
# it); WebKit captures from it through GStreamer's PulseAudio plugin.
check-window-deps:
	@command -v xvfb-run >/dev/null && command -v xdotool >/dev/null && command -v import >/dev/null && command -v dbus-run-session >/dev/null && command -v pulseaudio >/dev/null && command -v pactl >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends xvfb xauth xdotool imagemagick dbus-daemon dbus-x11 \
	    pulseaudio pulseaudio-utils gstreamer1.0-plugins-good; }

desktop-test: desktop build check-window-deps ## run the desktop app under Xvfb and drive its window, and record from a microphone in it; screenshots go to .desktop-test/
	HEALTHHUB_DESKTOP_OUT=$(CURDIR)/.desktop-test $(WINDOW_TEST) -count=1 -run 'TestDesktopWindow|TestDesktopMicrophone' -v ./app/windowtest

desktop-bench: desktop build check-window-deps ## print the desktop app's cold start to its sign-in page under Xvfb (DESKTOP_LAUNCHES, default 20)
	$(WINDOW_TEST) -run '^$$' -bench ColdStart -benchtime $(or $(DESKTOP_LAUNCHES),20)x ./app/windowtest

# The Windows installer: wixl from the WiX source, the binary and the MSI
# signed with osslsigncode when SIGN_PFX (and SIGN_PASSWORD) name a
# code-signing certificate.
msi: desktop-windows ## build the signed Windows installer bin/HealthHub-VERSION.msi (wixl, osslsigncode)
	VERSION=$(VERSION) BIN=$(BIN) build/windows/package.sh

msi-test: desktop-windows ## build the MSI signed with a throwaway certificate and check its tables and signatures
	VERSION=$(VERSION) BIN=$(BIN) build/windows/msi-test.sh

deb: desktop build ## build the Linux packages: the desktop app and healthhubd with its systemd unit (nfpm)
	VERSION=$(VERSION) BIN=$(BIN) build/linux/package.sh

build: check-go ui ## build bin/healthhubd with the web UI in it
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/healthhubd ./backend/cmd/healthhubd

# The container image: a static healthhubd (no cgo) in an OCI image built by
# deploy/image without a container daemon; see deploy/README.md.
image: check-go ui ## build the container image of healthhubd: bin/image/oci (OCI layout) and bin/image/healthhubd-VERSION.tar (docker load)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' -o $(BIN)/healthhubd-linux-amd64 ./backend/cmd/healthhubd
	$(GO) run ./deploy/image -binary $(BIN)/healthhubd-linux-amd64 -out $(BIN)/image

# The Go checks and tests come first, so a failure in the web UI or the
# desktop window never hides theirs.
test: go-test ui-test e2e desktop-test msi-test ## vet, check formatting and run every test: Go (race detector), the web UI's unit and browser tests, the desktop window, the MSI

gofmt-check:
	@unformatted=$$(gofmt -l app backend frontend deploy 2>/dev/null); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi

# The desktop app's tests of Wails' asset server link WebKitGTK 4.1, so
# the Go tests build with its tag.
GO_TEST_TAGS := -tags webkit2_41

# HAProxy fronts the tests of several server replicas behind a balancer.
check-haproxy:
	@if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then \
	  echo "installing HAProxy from the distribution's packages (the replica tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends haproxy; \
	fi

# pgBackRest backs up PostgreSQL installations; its tests run it against a
# PostgreSQL cluster of their own.
check-pgbackrest:
	@if ! command -v pgbackrest >/dev/null; then \
	  echo "installing pgBackRest from the distribution's packages (the PostgreSQL backup tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends pgbackrest; \
	fi

# ffmpeg converts uploaded recordings (FLAC, Ogg/Opus, MP3, M4A) for
# transcription; the transcription tests speak with espeak-ng, resample with
# sox and recognise with pocketsphinx.
AUDIO_TOOLS := ffmpeg pocketsphinx_continuous espeak-ng sox
check-audio:
	@for tool in $(AUDIO_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ] || [ ! -d /usr/share/pocketsphinx/model/en-us ]; then \
	  echo "installing ffmpeg, pocketsphinx, espeak-ng and sox from the distribution's packages (the transcription tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends ffmpeg pocketsphinx pocketsphinx-en-us espeak-ng sox; \
	fi

go-test: check-go gofmt-check check-desktop-deps check-haproxy check-pgbackrest check-audio
	$(GO) vet $(GO_TEST_TAGS) ./...
	@if [ -n "$$HEALTHHUB_TEST_DATABASE_URL" ]; then echo "store tests run on SQLite and on PostgreSQL"; else echo "store tests run on SQLite only (set HEALTHHUB_TEST_DATABASE_URL to add PostgreSQL)"; fi
	$(GO) test $(GO_TEST_TAGS) -race -count=1 -timeout 20m ./...
	@echo "restore drill figures on both engines (RPO, RTO, database size):"
	set -o pipefail; $(GO) test $(GO_TEST_TAGS) -race -count=1 -run '^TestDrillFrom' -v ./backend/server 2>&1 | grep -E 'drill on |^(--- FAIL|FAIL|ok)'

# The inner loop: formatting, vet and the Go tests with the race detector,
# on SQLite only and with -short (the slowest tests skip their long parts).
# make test runs them all.
check: check-go gofmt-check check-desktop-deps ## quick checks while working: gofmt, vet, Go tests (race detector, SQLite only, -short)
	$(GO) vet $(GO_TEST_TAGS) ./...
	env -u HEALTHHUB_TEST_DATABASE_URL $(GO) test $(GO_TEST_TAGS) -race -short -count=1 -timeout 10m ./...

# staticcheck 2026.2.2 (module version v0.8.2), the newest release,
# understands Go 1.26.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# tflint with its bundled Terraform rules; deploy/aws/.tflint.hcl downloads no
# plugin and fetches no module.
TFLINT := github.com/terraform-linters/tflint@v0.64.0

lint: check-go gofmt-check ## static checks: gofmt, vet, staticcheck
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(TFLINT) --chdir=deploy/aws

bench: check-go ui-bench desktop-bench ## print throughput and latency figures for each engine, the web UI's and the desktop app's
	@[ -n "$$HEALTHHUB_TEST_DATABASE_URL" ] || echo "PostgreSQL figures need HEALTHHUB_TEST_DATABASE_URL (or a PostgreSQL on 127.0.0.1:5432 with a database 'test')"
	$(GO) run ./backend/cmd/healthhub-bench
	$(GO) test -run '^$$' -bench 'BenchmarkLocal' -benchtime 20x ./backend/blob

ui-bench: check-chromium build ## print the web UI's figures: first-page size, time to an interactive sign-in page, first token painted
	cd frontend && HEALTHHUB_E2E_BINARY=$(CURDIR)/$(BIN)/healthhubd npm run perf

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
	      if $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg 2>&1 | tee $$out; then break; fi; \
	      if [ $$try = 2 ] || ! grep -q 'context deadline exceeded' $$out || grep -q 'Failing input written' $$out; then exit 1; fi; \
	      echo "fuzz $$target: the fuzzing coordinator's deadline race (golang/go#75804), no failing input; running it again"; \
	    done; \
	  done; \
	done

clean: ## remove build output
	rm -rf $(BIN) frontend/node_modules
	find frontend/dist -mindepth 1 ! -name .gitkeep -delete
