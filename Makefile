# genesys: the two commands are `make demo` and `make test`.
SHELL   := /bin/bash
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test demo bench kmod kmod-install clean help

all: build

help:
	@echo "make deps    install what is missing (apt-get, idempotent)"
	@echo "make build   configure and build everything (simulator; CUDA when nvcc is found)"
	@echo "make test    build and run every test; ends with ctest's summary"
	@echo "make demo    run the examples end to end and print a summary"
	@echo "make bench   run the benchmarks; JSON lines to stdout and bench/results/"
	@echo "make kmod    build kmod/genesys.ko against KDIR (default: Debian's headers)"
	@echo "make kmod-install   build and install the module for the running kernel (DKMS-free)"
	@echo "make clean   remove build outputs"

deps:
	@tools/deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

kmod: deps
	$(MAKE) -C kmod

kmod-install: kmod
	$(MAKE) -C kmod install

# ctest lists skipped tests after its summary; the summary is repeated last.
test: build kmod
	@cd $(BUILD) && set -o pipefail && ctest --output-on-failure -j $(JOBS) --timeout 1200 2>&1 | tee ctest.log; \
	  rc=$$?; grep -E '^[0-9]+% tests passed' ctest.log | tail -n 1; exit $$rc

demo: build
	@tools/demo.sh $(BUILD)

bench: build
	@tools/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
	-$(MAKE) -C kmod clean
