# onionswap build and test entry points. `make help` lists them.

GO        ?= go
PKG       ?= ./...
FUZZTIME  ?= 30s
# Each fuzz target's share of `make test`: the seed corpus plus a few
# thousand mutations. A count, not a duration: a duration ends in a context
# deadline that the fuzz coordinator sometimes reports as a failure while a
# slow worker is mid-input, which would make CI flaky on a busy machine.
TESTFUZZTIME ?= 10000x
ITEST_TIMEOUT ?= 25m
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# make install: PREFIX/bin/onionswap, the bash completion, and the sample
# config and systemd unit in PREFIX/share/onionswap; DESTDIR for staging.
PREFIX    ?= /usr/local
DESTDIR   ?=

.PHONY: help build install test unit itest browser fuzz fuzz-brief lint fmt release deps clean demo

help: ## Show the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/onionswap for this machine
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/onionswap ./cmd/onionswap

install: build ## Install bin/onionswap, bash completion, sample config, systemd unit under PREFIX (/usr/local)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/onionswap $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 bin/onionswap $(DESTDIR)$(PREFIX)/bin/onionswap
	install -m 0644 contrib/onionswap.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/onionswap
	install -m 0644 contrib/onionswap.conf $(DESTDIR)$(PREFIX)/share/onionswap/onionswap.conf
	sed 's|/usr/local/bin/onionswap|$(PREFIX)/bin/onionswap|g; s|/usr/local/share/onionswap|$(PREFIX)/share/onionswap|g' \
	  contrib/onionswap.service > $(DESTDIR)$(PREFIX)/share/onionswap/onionswap.service
	chmod 0644 $(DESTDIR)$(PREFIX)/share/onionswap/onionswap.service

deps: ## Install (as root) or name what the tests need: tor, gcc; build btcd
	@bash scripts/deps.sh

demo: deps ## Offers, chat, a CoinSwap from the book, a CoinJoin of 5: private Tor network, regtest chain, separate processes
	$(GO) run ./scripts/demo

test: deps lint ## Everything: lint, unit and integration tests, the dashboard in a browser, each fuzz target briefly (what CI runs)
	@bash scripts/deps.sh --browser >/dev/null
	@GO=$(GO) bash scripts/gotest.sh -count=1 -tags itest -timeout $(ITEST_TIMEOUT) $(PKG)
	@$(MAKE) --no-print-directory browser
	@bash scripts/fuzz.sh $(TESTFUZZTIME) $(PKG)

unit: ## Fast tests with the race detector: no tor, no btcd, no external process (swaps in-process on an in-memory chain)
	$(GO) test -race -count=1 $(PKG)

# The browser tests are a module of their own (chromedp stays out of
# onionswap's go.mod); screenshots of every page land in BROWSER_OUT.
BROWSER_OUT ?= $(CURDIR)/itest/browser/out
browser: ## The dashboard in headless Chromium against real nodes (screenshots in itest/browser/out)
	@bash scripts/deps.sh --browser >/dev/null
	@mkdir -p $(BROWSER_OUT)
	@cd itest/browser && GO=$(GO) bash ../../scripts/gotest.sh -count=1 -tags itest -timeout $(ITEST_TIMEOUT) -artifacts -outputdir $(BROWSER_OUT) ./...

itest: deps ## Integration tests on a private Tor network and a btcd regtest chain
	@GO=$(GO) bash scripts/gotest.sh -count=1 -tags itest -timeout $(ITEST_TIMEOUT) $(PKG)

fuzz: ## Run every fuzz target for FUZZTIME (default 30s)
	@bash scripts/fuzz.sh $(FUZZTIME) $(PKG)

lint: ## gofmt check and go vet (both build tags)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKG)
	$(GO) vet -tags itest $(PKG)
	cd itest/browser && $(GO) vet -tags itest ./...

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

release: ## linux/amd64 and linux/arm64 binaries and their SHA256SUMS in dist/ (arm64 needs gcc-aarch64-linux-gnu)
	mkdir -p dist
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/onionswap-linux-amd64 ./cmd/onionswap
	@command -v aarch64-linux-gnu-gcc >/dev/null || { echo "release: install gcc-aarch64-linux-gnu (apt-get install -y gcc-aarch64-linux-gnu)"; exit 1; }
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/onionswap-linux-arm64 ./cmd/onionswap
	cd dist && sha256sum onionswap-linux-amd64 onionswap-linux-arm64 > SHA256SUMS

clean: ## Remove build output
	rm -rf bin dist
	$(GO) clean -testcache
