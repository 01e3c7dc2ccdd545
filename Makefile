# genesys: the two commands are `make demo` and `make test`.
SHELL   := /bin/bash
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build test demo bench plots kmod kmod-install clean help fuzz soak gpu-bundle

all: build

help:
	@echo "make deps    install what is missing (apt-get, idempotent)"
	@echo "make build   configure and build everything (simulator; CUDA when nvcc is found)"
	@echo "make test    build and run every test; ends with ctest's summary"
	@echo "make demo    run the examples end to end and print a summary"
	@echo "make bench   run the benchmarks; JSON lines to stdout and bench/results/ (QUICK=1: shorter runs, no QEMU boot)"
	@echo "make plots   redraw the benchmark PNGs (docs/plots/) from the newest bench/results/genesys-*.csv (CSV=...: another run)"
	@echo "make fuzz    run each libFuzzer harness FUZZ_SECONDS (60) s; JSON lines to bench/results/fuzz-<date>.jsonl"
	@echo "make soak    soak every executor SOAK_SECONDS (60) s, checked by counting; JSON lines to bench/results/soak-<date>.jsonl"
	@echo "make gpu-bundle   copy what tools/gpu-check.sh runs into $(BUILD)-gpu, small enough to send to a GPU machine"
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

# QUICK=1: shorter runs and no kmod QEMU boot (tools/bench.sh --quick --no-kmod).
bench: build
	@tools/bench.sh $(BUILD) $(if $(QUICK),--quick --no-kmod)

# docs/benchmarks.md: gnuplot, from saved results only (no benchmark runs).
plots:
	@bench/plots/plots.sh $(CSV)

# tests/fuzz/README.md: clang build in $(BUILD)/fuzz; crash inputs replayed first.
fuzz: deps
	@tests/fuzz/run.sh --build $(BUILD)/fuzz --seconds $(FUZZ_SECONDS) \
	  --json bench/results/fuzz-$$(date +%Y%m%d-%H%M%S).jsonl

# tests/soak/soak.cu: every request completes exactly once, every byte reads back.
SOAK_SECONDS ?= 60
soak: build
	@$(BUILD)/tests/soak/gsys-soak --seconds $(SOAK_SECONDS) --executor all \
	  --out bench/results/soak-$$(date +%Y%m%d-%H%M%S).jsonl

# tools/gpu-bundle.sh: then, on the GPU machine, tools/gpu-check.sh $(BUILD)-gpu
gpu-bundle: build
	@tools/gpu-bundle.sh $(BUILD) $(BUILD)-gpu

clean:
	rm -rf $(BUILD) $(BUILD)-gpu
	-$(MAKE) -C kmod clean
