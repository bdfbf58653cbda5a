# pluggd build and test entry points. `make help` lists them.

GO      ?= go
BIN     := $(CURDIR)/bin
# Plugin binaries that exist today; each is plugins/<name>/ built to bin/<name>.
# storage-aufs and storage-devmapper refuse to start, with the reason, on
# hosts without their kernel feature (aufs; device-mapper, which the
# devmapper tests get from a QEMU guest); a daemon told to use them then
# stops at start with it.
PLUGINS := storage-overlay exec-native exec-lxc storage-aufs storage-devmapper
# Plugins built static (CGO_ENABLED=0): exec-lxc bind-mounts its own
# binary into terminal containers as their first init (plugins/exec-lxc/lxc/tty.go),
# where no libc exists.
STATIC_PLUGINS := exec-lxc
# What the tests must find on this host instead of skipping (see STYLE.md).
PLUGGD_REQUIRE ?=

.PHONY: help build test test-short bench proto vet clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build bin/pluggd and every plugin binary into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/pluggd ./cmd/pluggd
	@for p in $(PLUGINS); do \
		env=; case " $(STATIC_PLUGINS) " in *" $$p "*) env=CGO_ENABLED=0;; esac; \
		echo "$$env $(GO) build -o $(BIN)/$$p ./plugins/$$p" && env $$env $(GO) build -o $(BIN)/$$p ./plugins/$$p || exit 1; \
	done
	$(GO) build -o $(BIN)/busybox-tar ./test/busybox/cmd/busybox-tar

test: build ## build, then run every test (root needed for mounts and the end-to-end suite)
	PLUGGD_BIN=$(BIN) PLUGGD_REQUIRE=$(PLUGGD_REQUIRE) $(GO) test -count=1 -timeout 60m ./...

test-short: ## unit tests only, no daemon or plugin binaries
	$(GO) test -count=1 -short ./...

bench: build ## run the benchmarks in bench/ (see bench/README.md)
	PLUGGD_BIN=$(BIN) ./bench/run

proto: ## regenerate the gRPC code of the driver contracts (needs protoc)
	$(GO) generate ./core/driver/...

vet: ## go vet and gofmt check
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

clean: ## remove bin/
	rm -rf $(BIN)
