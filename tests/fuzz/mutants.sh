#!/usr/bin/env bash
# Checks that the harnesses' oracles can fail: builds each harness against a
# scratch copy of the code it tests with one check deliberately broken (a
# mutant), fuzzes it for up to N seconds, and expects a finding. The tree is
# never modified; the copies live in BUILD/mutants/.
#
# usage: tests/fuzz/mutants.sh [--build DIR] [--seconds N] [MUTANT...]
# A mutant whose pattern no longer matches the source is reported as
# "not applicable" (the code moved on: update the pattern here).
# Exit status: 0 when every applicable mutant was caught, 1 otherwise.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build/fuzz
seconds=60
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "mutants: unknown argument $1" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done
cxx=${GSYS_FUZZ_CXX:-clang++}
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
incs=(-I"$root/include" -I"$root/libgenesys" -I"$root/libgenesys/include" -I"$root/device" -I"$root/examples")

# name | harness | file (from the root) | sed expression that breaks one check
mutants=(
  "range-lax|policy_fuzz|libgenesys/policy.cpp|s/(n ? n : 1) <= hi - p/(n ? n : 1) <= hi - p + 8/"
  "path-one-byte|policy_fuzz|libgenesys/policy.cpp|s/if (std::memchr((const void\*)p, 0, n)) return 0;/return 0;/"
  "sockaddr-16|policy_fuzz|libgenesys/policy.cpp|s/else err = check_range(v, sizeof(sockaddr_storage), true);/else err = check_range(v, sizeof(sockaddr), true);/"
  "mapping-lax|policy_fuzz|libgenesys/policy.cpp|s/n <= it->second - off;/n <= it->second - off + 4096;/"
  "protected-fd|policy_fuzz|libgenesys/policy.cpp|s/return g.fds.count(fd) ? -EPERM : 0;/return 0;/"
  "slot-bound|ring_fuzz|include/genesys/ring_exec.h|s/if (idx >= r->nslots)/if (idx > r->nslots)/"
  "hole-no-timeout|ring_fuzz|include/genesys/ring_exec.h|s/if (now_ns - cur->hole_since_ns < r->timeout_ns)/if (0)/"
  "pop-later-lap|ring_fuzz|include/genesys/ring_exec.h|s/if (dif == 0) {/if (dif >= 0) {/"
  "copy-past-args|ring_fuzz|include/genesys/ring_exec.h|s/for (i = 0; i < GSYS_SLOT_ARGS; i++)\$/for (i = 0; i <= GSYS_SLOT_ARGS; i++)/"
  "kv-data-past-end|kv_fuzz|examples/net/kv_parse.h|s/if (after > n) {/if (after > n + 2) {/"
  "kv-number-tail|kv_fuzz|examples/net/kv_parse.h|s/  if (i < len \\&\\& !kv_is_space(s\\[i\\])) return r;//"
  "st-past-file|vlm_parse_fuzz|examples/vlm/safetensors.cpp|s/if (std::uint64_t(e) > data_bytes)/if (std::uint64_t(e) > data_bytes + 8)/"
  "prompt-grid-swap|vlm_parse_fuzz|examples/vlm/prompt.cpp|s/std::to_string(c.image.h) + \", \" + std::to_string(c.image.w)/std::to_string(c.image.w) + \", \" + std::to_string(c.image.h)/"
)

caught=0
missed=0
for m in "${mutants[@]}"; do
  IFS='|' read -r name harness file expr <<< "$m"
  if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
  dir=$build/mutants/$name
  rm -rf "$dir"
  mkdir -p "$dir/include/genesys" "$dir/artifacts"
  case $file in
    include/genesys/*)
      cp "$root/include/genesys/"*.h "$dir/include/genesys/"
      copy=$dir/$file
      srcs=("$here/$harness.cpp")
      ;;
    examples/*.h)  # a header: the scratch examples/ tree comes first on the include path
      mkdir -p "$dir/$(dirname "$file")"
      cp "$root/$file" "$dir/$file"
      copy=$dir/$file
      srcs=("$here/$harness.cpp")
      ;;
    *)
      cp "$root/$file" "$dir/"
      copy=$dir/$(basename "$file")
      srcs=("$here/$harness.cpp" "$copy")
      ;;
  esac
  # vlm_parse_fuzz links gsys-vlm's host sources: the tree's, but for the mutated one.
  if [ "$harness" = vlm_parse_fuzz ]; then
    for f in config safetensors weights prompt reference blindsight cpu_forward; do
      [ "$root/examples/vlm/$f.cpp" = "$root/$file" ] || srcs+=("$root/examples/vlm/$f.cpp")
    done
  fi
  sed -i "$expr" "$copy"
  if cmp -s "$copy" "$root/$file"; then
    printf 'mutant %-16s not applicable (pattern not found in %s)\n' "$name" "$file"
    continue
  fi
  # The scratch headers first; policy.cpp's own includes resolve next to it, then in the tree.
  if ! "$cxx" "${flags[@]}" -I"$dir/include" -I"$dir/examples" "${incs[@]}" "${srcs[@]}" -pthread -o "$dir/$harness" 2> "$dir/build.log"; then
    printf 'mutant %-16s does not build (%s)\n' "$name" "$dir/build.log"
    missed=$((missed + 1))
    continue
  fi
  mkdir -p "$dir/corpus"
  start=$(date +%s)
  "$dir/$harness" -max_total_time="$seconds" -timeout=10 -max_len=4096 -close_fd_mask=2 \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" "$here/corpus/$harness" > "$dir/fuzz.log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  if [ $rc -ne 0 ]; then
    why=$(grep -m1 -E 'policy_fuzz:|ring_fuzz:|kv_fuzz:|vlm_parse_fuzz:|ERROR: AddressSanitizer|runtime error' "$dir/fuzz.log" | cut -c1-110)
    printf 'mutant %-16s caught in %3ss: %s\n' "$name" "$took" "$why"
    caught=$((caught + 1))
  else
    printf 'mutant %-16s MISSED in %ss\n' "$name" "$took"
    missed=$((missed + 1))
  fi
done
echo "mutants: $caught caught, $missed missed"
[ $missed -eq 0 ]
