# pgpooler: build, test, run. `make help` lists the targets.
GO ?= go
BIN := bin/pgpooler

.PHONY: all build test vet race fuzz bench run clean help

all: build

help:
	@echo "make build  - build $(BIN)"
	@echo "make test   - go vet, a short fuzz run of each fuzz target, then go test -race on every package"
	@echo "make fuzz   - only the fuzz runs (FUZZTIME=5s each by default)"
	@echo "make bench  - benchmarks side by side: direct PostgreSQL, pgpooler, PgBouncer (when installed)"
	@echo "make run    - scripts/run.sh: build, start a local PostgreSQL if none answers on 5432, run the pooler"
	@echo "make clean  - remove bin/ and the fuzz cache"

build:
	$(GO) build -o $(BIN) ./cmd/pgpooler

# The README's test command. go test runs last, so that its results close the output (CI reads them).
test: vet fuzz race

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz:
	scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3s ./bench/

run:
	scripts/run.sh

clean:
	rm -rf bin
	$(GO) clean -fuzzcache
