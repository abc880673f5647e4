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

.PHONY: all build run test e2e bench lint testdata e2e-deps clean

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
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./dns/ ./balancer/ ./geo/
	$(GO) test -run '^$$' -bench . -benchtime=1x ./health/ ./cmd/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./... ./testdata/mkgeoip

# Regenerate the test GeoIP databases (deterministic: same bytes every time).
testdata:
	$(GO) run ./testdata/mkgeoip -city testdata/geoip-city.mmdb -country testdata/geoip-country.mmdb

clean:
	rm -rf bin
