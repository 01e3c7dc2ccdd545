#!/usr/bin/env bash
# tools/gpu-bundle.sh [--simulator] [BUILD_DIR [DEST]]: copies what
# tools/gpu-check.sh runs out of a build made with nvcc (default: build)
# into DEST (default: build-gpu), small enough to send to a GPU machine
# (64 MiB) and able to run on one that has the NVIDIA driver but not this
# machine's libraries:
#
#   tools/gpu-bundle.sh build build-gpu     # here, after the build
#   tools/gpu-check.sh build-gpu            # there, from the source tree
#
# DEST keeps the build's layout: tools/genesys, every -cuda/_cuda program
# of tests/, bench/ and examples/, the examples' simulator and host
# programs (tools/demo.sh and the example tests call them), the test
# helpers in tests/examples, the CTestTestfile.cmake files (gpu-check reads
# the example tests from them), and in lib/ the shared libraries those programs
# need besides the C and C++ runtimes (liburing, libseccomp, libnuma,
# libcudart), which gpu-check puts on LD_LIBRARY_PATH. Debug information is
# stripped (it is most of each file).
#
# Options:
#   --simulator  also the simulator build of every -cuda test and benchmark,
#                so that gpu-check --rehearse runs from DEST
#   -h, --help   this text
#
# Exit status: 0 done; 1 the bundle is over 60 MiB; 2 a bad argument, a
# build without -cuda programs, or a copy that failed.
set -u
SIM=0
ARGS=()
usage() { sed -n '2,/^# Exit status/s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --simulator) SIM=1 ;;
    -*) echo "gpu-bundle: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
[ ${#ARGS[@]} -le 2 ] || { echo "gpu-bundle: too many arguments (see --help)" >&2; exit 2; }
BUILD=${ARGS[0]:-build}
DEST=${ARGS[1]:-build-gpu}
BUILD=$(cd "$BUILD" 2> /dev/null && pwd) || { echo "gpu-bundle: no build directory '${ARGS[0]:-build}'" >&2; exit 2; }
LIMIT_MIB=60

# The -cuda and _cuda programs, as paths relative to BUILD.
# (tests/consumer holds the install test's own builds, not programs to run.)
mapfile -t GPU_PROGRAMS < <(cd "$BUILD" && find tests bench examples \( -name CMakeFiles -o -path tests/consumer \) -prune -o -type f -perm -u+x \
  \( -name '*-cuda' -o -name '*_cuda' \) -print 2> /dev/null | sort)
if [ ${#GPU_PROGRAMS[@]} -eq 0 ]; then
  echo "gpu-bundle: $BUILD has no -cuda programs: configure it where nvcc is (see README.md)" >&2
  exit 2
fi
FILES=(tools/genesys "${GPU_PROGRAMS[@]}")
# Host programs the examples' tests and tools/demo.sh run beside the -cuda ones.
mapfile -t -O ${#FILES[@]} FILES < <(cd "$BUILD" && find examples tests/examples -name CMakeFiles -prune -o \
  -type f -perm -u+x ! -name '*-cuda' -print 2> /dev/null | sort)
if [ "$SIM" = 1 ]; then
  for p in "${GPU_PROGRAMS[@]}"; do
    case $p in examples/*) continue ;; esac  # already there
    [ -x "$BUILD/${p%[-_]cuda}" ] && FILES+=("${p%[-_]cuda}")
  done
fi

case $DEST in /*) ;; *) DEST=$PWD/$DEST ;; esac
[ "$DEST" != "$BUILD" ] || { echo "gpu-bundle: DEST is the build directory itself" >&2; exit 2; }
rm -rf "$DEST" && mkdir -p "$DEST/lib" || exit 2
for f in "${FILES[@]}"; do
  mkdir -p "$DEST/$(dirname "$f")" &&
    strip --strip-debug -o "$DEST/$f" "$BUILD/$f" ||
    { echo "gpu-bundle: could not copy $BUILD/$f" >&2; exit 2; }
done
while read -r t; do
  mkdir -p "$DEST/$(dirname "$t")" && cp "$BUILD/$t" "$DEST/$t" || exit 2
done < <(cd "$BUILD" && find . \( -name CMakeFiles -o -path ./tests/consumer \) -prune -o -name CTestTestfile.cmake -print)

# The libraries a CUDA machine may lack, as the programs here resolve them.
mapfile -t LIBS < <(for f in "${FILES[@]}"; do ldd "$BUILD/$f" 2> /dev/null; done |
  awk '$1 ~ /^lib(uring|seccomp|numa|cudart)\.so/ && $3 ~ /^\// && !seen[$1]++ { print $1, $3 }')
for l in "${LIBS[@]}"; do
  read -r soname path <<< "$l"
  cp -L "$path" "$DEST/lib/$soname" || { echo "gpu-bundle: could not copy $path" >&2; exit 2; }
done

KIB=$(du -sk "$DEST" | cut -f1)
echo "gpu-bundle: $DEST: ${#FILES[@]} programs, ${#LIBS[@]} libraries ($(cd "$DEST/lib" && ls | tr '\n' ' '| sed 's/ $//')), $((KIB / 1024)) MiB"
if [ "$KIB" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "gpu-bundle: over $LIMIT_MIB MiB: too big to send to a GPU machine (64 MiB with the source tree)" >&2
  exit 1
fi
