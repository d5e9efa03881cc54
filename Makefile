# pgpooler: build, test, run. `make help` lists the targets.
GO ?= go
BIN := bin/pgpooler

.PHONY: all build test vet race fuzz bench bench-go run clean help

all: build

help:
	@echo "make build  - build $(BIN)"
	@echo "make test   - go vet, a short fuzz run of each fuzz target, then go test -race on every package,"
	@echo "              then tests/ again with event_loops = false (PGPOOLER_EVENT_LOOPS=0)"
	@echo "make fuzz   - only the fuzz runs (FUZZTIME=5s each by default)"
	@echo "make bench  - pgbench side by side: direct PostgreSQL, PgBouncer, pgpooler, pgpooler-goroutines (event_loops = false);"
	@echo "              writes docs/benchmarks.md and .png (DURATION=s ROUNDS=n SCENARIOS=S1,S50,... TARGETS=... PGBOUNCER=path;"
	@echo "              see bench/suite/doc.go)"
	@echo "make bench-go - the Go benchmarks in bench/ (go test -bench)"
	@echo "make run    - scripts/run.sh: build, start a local PostgreSQL if none answers on 5432, run the pooler"
	@echo "make clean  - remove bin/ and the fuzz cache"

build:
	$(GO) build -o $(BIN) ./cmd/pgpooler

# The README's test command. go test runs last, so that its results close the output (CI reads them).
test: vet fuzz race

vet:
	$(GO) vet ./...

# Every package with the defaults (event_loops on), then tests/ again on the goroutine relay
# (event_loops = false), which serves the clients the loops do not cover.
race:
	$(GO) test -race -count=1 -timeout 20m ./...
	PGPOOLER_EVENT_LOOPS=0 $(GO) test -race -count=1 -timeout 20m -skip TestEventLoops ./tests/

fuzz:
	scripts/fuzz.sh

# The side-by-side suite (bench/suite): about 27 minutes with the defaults.
bench: build
	$(GO) run ./bench/suite

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3s ./bench/

run:
	scripts/run.sh

clean:
	rm -rf bin
	$(GO) clean -fuzzcache
