#!/usr/bin/env bash
# tests/consumer/run.sh BUILD_DIR WORK_DIR: genesys as a dependency, the way
# the README's "Use it in your project" says.
#
#   1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix; the public headers
#      are there and the private ones are not;
#   2. app/ (an outside project) configured with find_package(genesys) from
#      that prefix and built; its simulator program runs and its kernel's
#      getppid and write come back right;
#   3. app/hello.cu built with plain g++ and pkg-config (genesys.pc), and run;
#   4. with nvcc: hello.cu built with nvcc and pkg-config (genesys-cuda.pc),
#      and by CMake as hello-cuda; on a machine with a GPU both run, without
#      one they must say "no CUDA device".
# Exit 0 when every step passed; the first failure stops it with 1.
set -euo pipefail

build=$(cd "${1:?usage: run.sh BUILD_DIR WORK_DIR}" && pwd)
work=${2:?usage: run.sh BUILD_DIR WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
cmake=${CMAKE_COMMAND:-cmake}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
libdir=$(dirname "$(find "$prefix" -name libgenesys.a | head -n 1)")
[ -f "$libdir/libgenesys.a" ] || fail "no libgenesys.a installed"
for f in include/genesys.cuh include/genesys/abi.h include/genesys/ops.h include/genesys/runtime.h \
         include/genesys/calls.h include/genesys/launch.h include/genesys/sim/sim.h bin/genesys \
         share/doc/genesys/README.md share/doc/genesys/docs/device.md share/doc/genesys/kmod/README.md; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
for f in libgenesys_sim.a pkgconfig/genesys.pc cmake/genesys/genesysConfig.cmake cmake/genesys/device_program.cmake; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f is not installed"
done
# Nothing private: the executor's half of the protocol and libgenesys's own headers.
for f in ring_exec.h executor.h ring_memory.h policy.h memory.h; do
  [ -e "$prefix/include/genesys/$f" ] && fail "private header $f is installed"
done
"$prefix/bin/genesys" --help > /dev/null || fail "genesys --help"

have_nvcc=0
[ -x "$nvcc" ] && [ -e "$libdir/libgenesys_cuda.a" ] && have_nvcc=1
gpu=0
command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 && gpu=1

# check_run NAME PROGRAM: on the simulator, or on a GPU, the kernel's calls
# came back; a CUDA build without a GPU says "no CUDA device" and fails.
check_run() {
  local out=$work/$1.out err=$work/$1.err rc=0
  (cd "$work" && "$2" > "$out" 2> "$err") || rc=$?
  if [ "$3" = cuda ] && [ $gpu = 0 ]; then
    [ $rc != 0 ] && grep -q "no CUDA device" "$err" || { cat "$out" "$err"; fail "$1 without a GPU: rc=$rc, no 'no CUDA device' message"; }
    echo "   $1: $(cat "$err")"
    return
  fi
  [ $rc = 0 ] || { cat "$out" "$err"; fail "$1 exited $rc"; }
  grep -qx "hello from a GPU thread" "$out" || { cat "$out"; fail "$1: the kernel's write did not arrive"; }
  grep -q "getppid from the kernel: match" "$out" || { cat "$out"; fail "$1: getppid from the kernel"; }
  echo "   $1: $(tail -n 1 "$out")"
}

step "find_package(genesys): configure and build app/"
cuda_args=()
[ $have_nvcc = 1 ] && cuda_args=(-DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES=90)
"$cmake" -S "$here/app" -B "$work/app-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON "${cuda_args[@]}" > "$work/app-configure.log" 2>&1 ||
  { cat "$work/app-configure.log"; fail "configuring app/ with find_package(genesys)"; }
found=$(sed -n 's/^genesys_DIR:PATH=//p' "$work/app-build/CMakeCache.txt")
[ "$(cd "$found" && pwd -P)" = "$(cd "$libdir/cmake/genesys" && pwd -P)" ] || fail "found genesys in $found, not in the prefix"
"$cmake" --build "$work/app-build" > "$work/app-build.log" 2>&1 || { cat "$work/app-build.log"; fail "building app/"; }
check_run cmake-hello "$work/app-build/hello" sim
"$work/app-build/host_only" | grep -q "^executor: " || fail "host_only"
if [ $have_nvcc = 1 ]; then
  [ -x "$work/app-build/hello-cuda" ] || fail "gsys_device_program built no hello-cuda with nvcc"
  check_run cmake-hello-cuda "$work/app-build/hello-cuda" cuda
fi

export PKG_CONFIG_PATH=$libdir/pkgconfig
step "pkg-config + g++: g++ -x c++ hello.cu -x none \$(pkg-config --cflags --libs genesys)"
# shellcheck disable=SC2046
g++ -x c++ "$here/app/hello.cu" -x none $(pkg-config --cflags --libs genesys) -o "$work/pc-hello" ||
  fail "g++ with pkg-config genesys"
check_run pc-hello "$work/pc-hello" sim
# Without C++20 the headers say so first.
if g++ -std=c++17 -fsyntax-only -x c++ "$here/app/hello.cu" -I"$prefix/include" 2> "$work/cxx17.err"; then
  fail "hello.cu compiled as C++17"
fi
head -n 3 "$work/cxx17.err" | grep -q 'genesys needs C++20 (-std=c++20)' || { cat "$work/cxx17.err"; fail "no C++20 message"; }

if [ $have_nvcc = 1 ]; then
  step "pkg-config + nvcc: nvcc -arch=sm_90 --expt-relaxed-constexpr hello.cu \$(pkg-config --cflags --libs genesys-cuda)"
  # shellcheck disable=SC2046
  "$nvcc" -arch=sm_90 --expt-relaxed-constexpr "$here/app/hello.cu" $(pkg-config --cflags --libs genesys-cuda) \
    -o "$work/nvcc-hello" || fail "nvcc with pkg-config genesys-cuda"
  check_run nvcc-hello "$work/nvcc-hello" cuda
else
  echo "== no nvcc (or genesys was built without CUDA): the nvcc steps are skipped"
fi
echo "consumer: PASS"
