#!/usr/bin/env bash
# tests/consumer/run.sh BUILD_DIR WORK_DIR: genesys as a dependency, the way
# the README's "Use it in your project" says.
#
#   1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix; the public headers
#      are there and the private ones are not; the static archives and the
#      shared libraries (SONAME lib<x>.so.<major>.<minor>, no RPATH); a second
#      install changes nothing;
#   2. app/ (an outside project) configured with find_package(genesys) from
#      that prefix and built; its simulator program runs and its kernel's
#      getppid and write come back right; hello links the archives (no
#      libgenesys*.so NEEDED), hello-shared and host_only_shared the shared
#      libraries (NEEDED, found through CMake's RPATH);
#   3. the prefix copied elsewhere (relocated), and app/hello.cu built from it
#      with plain g++ and pkg-config (genesys.pc): `--libs` links the shared
#      libraries (run with LD_LIBRARY_PATH), `-Wl,-Bstatic $(pkg-config
#      --static --libs genesys) -Wl,-Bdynamic` the archives; both run;
#   4. with nvcc: hello.cu built with nvcc and pkg-config (genesys-cuda.pc),
#      shared and static, and by CMake as hello-cuda and hello-shared-cuda; on
#      a machine with a GPU they run, without one they must say "no CUDA
#      device".
# Exit 0 when every step passed; the first failure stops it with 1.
set -euo pipefail
# "producer | grep -q" fails under pipefail when grep stops reading at the
# first match and the producer then dies of SIGPIPE (ldd did, now and then).
# matches reads all of its input first, then greps it.
matches() {
  local in
  in=$(cat)
  grep "$@" <<<"$in"
}

build=$(cd "${1:?usage: run.sh BUILD_DIR WORK_DIR}" && pwd)
work=${2:?usage: run.sh BUILD_DIR WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
cmake=${CMAKE_COMMAND:-cmake}
# GSYS_SHARED=0: genesys was built with -DGSYS_SHARED=OFF, static libraries
# only; the shared steps are left out and `pkg-config --libs` links archives.
shared=1
case ${GSYS_SHARED:-1} in 0|OFF|off|FALSE|false|NO|no) shared=0 ;; esac

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

# The shared libraries: an unversioned link for the linker, a versioned
# SONAME for the loader, and no RPATH (nothing that ties them to a place).
soname() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p'; }
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
shared_libs=(libgenesys libgenesys_sim)
[ -e "$libdir/libgenesys_cuda.a" ] && shared_libs+=(libgenesys_cuda)
if [ $shared = 0 ]; then
  shared_libs=()
  [ -n "$(find "$prefix" -name 'libgenesys*.so*')" ] && fail "GSYS_SHARED=OFF, yet shared libraries are installed"
fi
for l in ${shared_libs[@]+"${shared_libs[@]}"}; do
  [ -L "$libdir/$l.so" ] || fail "$l.so is not installed (or not a link to the versioned library)"
  so=$(soname "$libdir/$l.so")
  [[ $so =~ ^$l\.so\.[0-9]+\.[0-9]+$ ]] || fail "$l.so: SONAME '$so', not $l.so.<major>.<minor>"
  [ -f "$libdir/$so" ] || fail "$libdir/$so (the SONAME) is not installed"
  readelf -d "$libdir/$l.so" | matches -qE '\((RPATH|RUNPATH)\)' && fail "$l.so carries an RPATH: $(readelf -d "$libdir/$l.so" | grep -E 'R(UN)?PATH')"
done
if [ $shared = 1 ]; then
  so_runtime=$(soname "$libdir/libgenesys.so")
  so_sim=$(soname "$libdir/libgenesys_sim.so")
  echo "   shared: ${shared_libs[*]} ($so_runtime, $so_sim)"
else
  echo "   static libraries only (GSYS_SHARED=OFF)"
fi

# Idempotent: installing again gives the same tree.
(cd "$prefix" && find . -printf '%p %y %s %l\n' | sort) > "$work/tree1"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install2.log" || { cat "$work/install2.log"; fail "second cmake --install"; }
(cd "$prefix" && find . -printf '%p %y %s %l\n' | sort) > "$work/tree2"
diff -u "$work/tree1" "$work/tree2" || fail "a second install changed the prefix"

# links_shared PROGRAM SONAME...: each SONAME is NEEDED; links_static PROGRAM:
# no libgenesys*.so is.
links_shared() {
  local p=$1; shift
  for so in "$@"; do needed "$p" | matches -qx "$so" || { needed "$p"; fail "$(basename "$p") does not link $so"; }; done
}
links_static() {
  needed "$1" | matches -q '^libgenesys' && { needed "$1"; fail "$(basename "$1") links a shared libgenesys"; }
  return 0
}
# links_default PROGRAM SONAME...: what plain `pkg-config --libs` gives, the
# shared libraries, or the archives when there are none.
links_default() {
  if [ $shared = 1 ]; then links_shared "$@"; else links_static "$1"; fi
}

have_nvcc=0
[ -x "$nvcc" ] && [ -e "$libdir/libgenesys_cuda.a" ] && have_nvcc=1
gpu=0
command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 && gpu=1

# check_run NAME PROGRAM sim|cuda [LIBPATH]: on the simulator, or on a GPU, the kernel's calls
# came back; a CUDA build without a GPU says "no CUDA device" and fails.
# LIBPATH (optional): LD_LIBRARY_PATH for the run.
check_run() {
  local out=$work/$1.out err=$work/$1.err rc=0
  (cd "$work" && if [ -n "${4:-}" ]; then export LD_LIBRARY_PATH=$4; fi && "$2" > "$out" 2> "$err") || rc=$?
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
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCONSUMER_SHARED=$shared ${cuda_args[@]+"${cuda_args[@]}"} > "$work/app-configure.log" 2>&1 ||
  { cat "$work/app-configure.log"; fail "configuring app/ with find_package(genesys)"; }
found=$(sed -n 's/^genesys_DIR:PATH=//p' "$work/app-build/CMakeCache.txt")
[ "$(cd "$found" && pwd -P)" = "$(cd "$libdir/cmake/genesys" && pwd -P)" ] || fail "found genesys in $found, not in the prefix"
"$cmake" --build "$work/app-build" > "$work/app-build.log" 2>&1 || { cat "$work/app-build.log"; fail "building app/"; }
links_static "$work/app-build/hello"
check_run cmake-hello "$work/app-build/hello" sim
"$work/app-build/host_only" | matches -q "^executor: " || fail "host_only"
if [ $shared = 1 ]; then
  # Shared: NEEDED, and the loader finds the prefix's copy through the RPATH.
  links_shared "$work/app-build/hello-shared" "$so_runtime" "$so_sim"
  ldd "$work/app-build/hello-shared" | matches -q "$so_runtime => $libdir/$so_runtime" ||
    { ldd "$work/app-build/hello-shared"; fail "hello-shared does not load $libdir/$so_runtime"; }
  check_run cmake-hello-shared "$work/app-build/hello-shared" sim
  links_shared "$work/app-build/host_only_shared" "$so_runtime"
  "$work/app-build/host_only_shared" | matches -q "^executor: " || fail "host_only_shared"
fi
if [ $have_nvcc = 1 ]; then
  [ -x "$work/app-build/hello-cuda" ] || fail "gsys_device_program built no hello-cuda with nvcc"
  links_static "$work/app-build/hello-cuda"
  check_run cmake-hello-cuda "$work/app-build/hello-cuda" cuda
  if [ $shared = 1 ]; then
    [ -x "$work/app-build/hello-shared-cuda" ] || fail "gsys_device_program built no hello-shared-cuda with nvcc"
    links_shared "$work/app-build/hello-shared-cuda" "$(soname "$libdir/libgenesys_cuda.so")"
    needed "$work/app-build/hello-shared-cuda" | matches -q '^libcudart\.so' || fail "hello-shared-cuda: not the shared CUDA runtime"
    check_run cmake-hello-shared-cuda "$work/app-build/hello-shared-cuda" cuda
  fi
fi

# Relocated: the pkg-config steps use a copy of the prefix elsewhere.
cp -a "$prefix" "$work/moved"
libdir=$work/moved/${libdir#"$prefix"/}
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --variable=libdir genesys)" -ef "$libdir" ] || fail "genesys.pc in the moved prefix says libdir=$(pkg-config --variable=libdir genesys)"
step "pkg-config + g++, shared: g++ -x c++ hello.cu -x none \$(pkg-config --cflags --libs genesys)"
# shellcheck disable=SC2046
g++ -x c++ "$here/app/hello.cu" -x none $(pkg-config --cflags --libs genesys) -o "$work/pc-hello" ||
  fail "g++ with pkg-config genesys"
links_default "$work/pc-hello" "${so_runtime:-}" "${so_sim:-}"
if [ $shared = 1 ]; then
  LD_LIBRARY_PATH=$libdir ldd "$work/pc-hello" | matches -q "$so_runtime => $libdir/$so_runtime" ||
    { LD_LIBRARY_PATH=$libdir ldd "$work/pc-hello"; fail "pc-hello does not load $libdir/$so_runtime"; }
fi
check_run pc-hello "$work/pc-hello" sim "$libdir"
step "pkg-config + g++, static: g++ ... -Wl,-Bstatic \$(pkg-config --static --libs genesys) -Wl,-Bdynamic"
# shellcheck disable=SC2046
g++ -x c++ "$here/app/hello.cu" -x none $(pkg-config --cflags genesys) \
  -Wl,-Bstatic $(pkg-config --static --libs genesys) -Wl,-Bdynamic -o "$work/pc-hello-static" ||
  fail "g++ with pkg-config --static genesys"
links_static "$work/pc-hello-static"
check_run pc-hello-static "$work/pc-hello-static" sim
# Without C++20 the headers say so first.
if g++ -std=c++17 -fsyntax-only -x c++ "$here/app/hello.cu" -I"$prefix/include" 2> "$work/cxx17.err"; then
  fail "hello.cu compiled as C++17"
fi
head -n 3 "$work/cxx17.err" | matches -q 'genesys needs C++20 (-std=c++20)' || { cat "$work/cxx17.err"; fail "no C++20 message"; }

if [ $have_nvcc = 1 ]; then
  step "pkg-config + nvcc, shared: nvcc -arch=sm_90 --expt-relaxed-constexpr -cudart shared hello.cu \$(pkg-config --cflags --libs genesys-cuda)"
  # One compile, two links: the object file is the same for both.
  # shellcheck disable=SC2046
  "$nvcc" -arch=sm_90 --expt-relaxed-constexpr $(pkg-config --cflags genesys-cuda) \
    -c "$here/app/hello.cu" -o "$work/nvcc-hello.o" || fail "nvcc -c hello.cu"
  # shellcheck disable=SC2046
  "$nvcc" -arch=sm_90 -cudart shared "$work/nvcc-hello.o" $(pkg-config --libs genesys-cuda) \
    -o "$work/nvcc-hello" || fail "nvcc with pkg-config genesys-cuda"
  links_default "$work/nvcc-hello" "$([ $shared = 0 ] || soname "$libdir/libgenesys_cuda.so")"
  needed "$work/nvcc-hello" | matches -q '^libcudart\.so' || fail "nvcc-hello: -cudart shared, but no libcudart.so NEEDED"
  check_run nvcc-hello "$work/nvcc-hello" cuda "$libdir"
  # nvcc puts every -Xlinker option before the libraries, so -Bstatic cannot
  # bracket them: the archive by name, and --as-needed drops the .so that
  # -lgenesys_cuda also finds.
  step "pkg-config + nvcc, static: nvcc ... -Xlinker --as-needed \$(pkg-config --variable=libdir genesys-cuda)/libgenesys_cuda.a \$(pkg-config --static --libs genesys-cuda)"
  # shellcheck disable=SC2046
  "$nvcc" -arch=sm_90 "$work/nvcc-hello.o" -Xlinker --as-needed "$(pkg-config --variable=libdir genesys-cuda)/libgenesys_cuda.a" \
    $(pkg-config --static --libs genesys-cuda) -o "$work/nvcc-hello-static" || fail "nvcc with pkg-config --static genesys-cuda"
  links_static "$work/nvcc-hello-static"
  check_run nvcc-hello-static "$work/nvcc-hello-static" cuda
else
  echo "== no nvcc (or genesys was built without CUDA): the nvcc steps are skipped"
fi
echo "consumer: PASS"
