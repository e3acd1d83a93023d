# crmguard: `make run` serves the demo on the embedded SQLite default,
# `make test` runs the whole suite.

GO       ?= go
BIN      := bin
ADDR     ?= 127.0.0.1:8080
# Set CRMGUARD_TEST_REQUIRE_SERVICES=1 to fail, not skip, when MySQL or
# Redis is unreachable (CI does).
TESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: build run test bench fuzz vet fmt clean proto plugins

build:
	$(GO) build -o $(BIN)/crmguard ./cmd/crmguard
	@mkdir -p $(BIN)/plugins
	$(GO) build -o $(BIN)/plugins/ ./plugins/...

run: build
	$(BIN)/crmguard demo
	@echo "Serving the demo on http://$(ADDR); stop with Ctrl-C."
	$(BIN)/crmguard serve --addr $(ADDR)

# The suites that try the built binary as its users, attackers and
# operators would (faults under load, a request fuzzer, a cross-install
# prober) run after the rest, verbosely, so that their figures are printed:
# requests by status, events written and delivered, times to recover.
BLACKBOX := ./testing/chaos ./testing/fuzz ./testing/prober
test:
	$(GO) test $(TESTFLAGS) $$($(GO) list ./... | grep -v -e '/testing/chaos$$' -e '/testing/fuzz$$' -e '/testing/prober$$')
	$(GO) test $(TESTFLAGS) -v $(BLACKBOX)

# A short load run on a small seed (MySQL at BENCH_DSN): the host is started
# on that database and measured with every scenario, the plugins' too. For the full 1M-record run: go run ./testing/load -serve
# bin/crmguard (add -plugins strict-ownership,teams,delegation for their
# scenarios).
# Adoption mode is measured on EspoCRM's schema at BENCH_ADOPT_DSN (for 1M
# leads: -adopt espocrm -records 1000000, see docs/adopt.md).
BENCH_DSN ?= root@tcp(127.0.0.1:3306)/crmguard_bench
BENCH_ADOPT_DSN ?= root@tcp(127.0.0.1:3306)/crmguard_bench_espocrm
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./host/access ./host/service ./host/plugins
	$(GO) run ./testing/load -dsn '$(BENCH_DSN)' -records 20000 -users 200 -grants 1000 -duration 3s -concurrency 8 -serve $(BIN)/crmguard -plugins strict-ownership,teams,delegation
	$(GO) run ./testing/load -adopt espocrm -adopt-dsn '$(BENCH_ADOPT_DSN)' -records 20000 -duration 3s -concurrency 2 -serve $(BIN)/crmguard

# Runs every Go fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME
# each, one after the other; `make test` runs only their seed corpora
# (testdata/fuzz/FuzzXxx). A failing input is written to that corpus: fix
# the code and commit the input, so that the regression stays tested.
# Minimizing a new input is bounded so that long inputs do not stall a run.
FUZZTIME ?= 30s
fuzz:
	@set -e; for file in $$(git grep -l '^func Fuzz' -- '*_test.go'); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "== $$target ./$$(dirname $$file)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./$$(dirname $$file); \
		done; \
	done

# Regenerates the plugin protocol's Go code (committed) with Debian's
# protoc (apt-get install protobuf-compiler) and pinned Go generators.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
proto:
	@command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH="$(CURDIR)/$(BIN)/tools:$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative sdk/proto/v1/plugin.proto

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) crmguard.db crmguard.db-wal crmguard.db-shm crmguard.db.migrate-lock
