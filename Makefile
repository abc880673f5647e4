# geodns — see README.md.
GO        ?= go
BIN       := bin/geodns
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X github.com/geodns/geodns/cmd.Version=$(VERSION) -X github.com/geodns/geodns/cmd.Commit=$(COMMIT)
DNS_ADDR  ?= 127.0.0.1:5353
ZONES     ?= testdata/zones
GEOIP     ?= testdata/geoip-city.mmdb
DATA_DIR  ?= bin/data
# apt-get needs root; use sudo when we are not.
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test e2e bench bench-deps bench-scale lint testdata e2e-deps clean

all: lint test build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/geodns

# Serve the bundled example zone with the bundled test GeoIP database.
run: build
	$(BIN) serve --zones $(ZONES) --geoip $(GEOIP) --dns-addr $(DNS_ADDR) --data-dir $(DATA_DIR)

# Unit, protocol and fuzz-seed tests (go test runs each fuzz target's seed corpus).
test:
	$(GO) vet ./... ./testdata/mkgeoip
	$(GO) test -race -count=1 ./...

# End-to-end: the real binary checked with dig and through an unbound resolver,
# and its REST API driven with curl and the CLI.
e2e: e2e-deps build
	GEODNS_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -v -run 'E2E' ./cmd/

e2e-deps:
	@missing=""; \
	command -v dig >/dev/null || missing="$$missing dnsutils"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || missing="$$missing unbound"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Go benchmarks of the query path, then geodns side by side with gdnsd, Knot and PowerDNS on
# loopback (testdata/bench/run.sh: answer checks, dnsperf table, p99 at 80% of the peak rate), then
# the scale run (bench-scale). Knobs pass through the environment (or the make command line):
# PEERS CONFIGS WORKLOADS DURATION RUNS CLIENTS OUTSTANDING DNSPERF_THREADS QTIMEOUT KEEP CHECK_ONLY
# EXTRA_TARGETS MMDB P99 P99_LOAD OTHER_MAX; GOBENCH=0 skips the Go benchmarks, SCALE=0 the scale run
# (CHECK_ONLY=1 skips both).
# See README.md, Benchmarks.
bench: bench-deps build
	@if [ "$${GOBENCH:-1}" != 0 ] && [ "$${CHECK_ONLY:-0}" != 1 ]; then \
		$(GO) test -run '^$$' -bench . -benchmem ./dns/ ./balancer/ ./geo/ && \
		$(GO) test -run '^$$' -bench . -benchtime=1x ./health/ ./cmd/; \
	fi
	testdata/bench/run.sh
	@if [ "$${SCALE:-1}" != 0 ] && [ "$${CHECK_ONLY:-0}" != 1 ]; then testdata/bench/scale.sh; fi

# geodns on a zone of 100,000 static records and 1,000 geo services: load time, resident memory,
# dnsperf figures beside the small bench zone (testdata/bench/scale.sh; DURATION, RUNS, RECORDS, SERVICES).
bench-scale: bench-deps build
	testdata/bench/scale.sh

# What `make bench` runs besides Go (Debian packages). On a systemd machine the daemons the packages
# start on install are stopped and disabled (the bench starts its own, by PID), so that they use no
# CPU during a run; ones found already running are only reported.
bench-deps:
	@missing=""; \
	for p in dnsperf:dnsperf gdnsd:gdnsd knotd:knot kdig:knot-dnsutils pdns_server:pdns-server dig:dnsutils mmdblookup:mmdb-bin; do \
		command -v $${p%%:*} >/dev/null || [ -x /usr/sbin/$${p%%:*} ] || missing="$$missing $${p#*:}"; \
	done; \
	ls /usr/lib/*/knot/modules-*/geoip.so >/dev/null 2>&1 || missing="$$missing knot-module-geoip"; \
	ls /usr/lib/*/pdns/libgeoipbackend.so >/dev/null 2>&1 || missing="$$missing pdns-backend-geoip"; \
	ls /usr/lib/*/pdns/libbindbackend.so >/dev/null 2>&1 || missing="$$missing pdns-backend-bind"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing || exit 1; \
		if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now gdnsd knot pdns 2>/dev/null || true; fi; \
	fi; \
	if [ -d /run/systemd/system ]; then for s in gdnsd knot pdns; do \
		! systemctl is-active -q $$s 2>/dev/null || echo "# note: service $$s is running and shares the CPU with the bench (systemctl disable --now $$s)"; \
	done; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./... ./testdata/mkgeoip

# Regenerate the test GeoIP databases (deterministic: same bytes every time).
testdata:
	$(GO) run ./testdata/mkgeoip -city testdata/geoip-city.mmdb -country testdata/geoip-country.mmdb

clean:
	rm -rf bin
