#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR MIT)
# Description: boot the Debian kernel that genesys.ko was built for under
# QEMU (TCG, no KVM needed) with a busybox initramfs that loads the module and
# runs the guest tests; read the serial console back; exit 0 only on PASS.
#
# usage: tests/kmod/run-qemu.sh [--out DIR] [--series 6.1|6.12 | --kdir DIR | --ko FILE]
#                               [--tests t_ops,t_stress] [--timeout SECS]
#                               [--kernel VMLINUZ] [--host-test 'NAME=PROGRAM [ARGS]']...
#   --out      where the console log, initramfs, module build and bench.jsonl
#              go (default tests/kmod/out, gitignored)
#   --series   build against the newest Debian header tree of that kernel
#              series (/usr/src/linux-headers-<series>.*-amd64, not -cloud/-rt)
#              and boot the matching /boot/vmlinuz: 6.1 is Debian 12's kernel,
#              6.12 the one from bookworm-backports (tools/deps.sh installs both)
#   --kdir     build against this kernel build tree instead
#              (with --series or --kdir the sources are staged into
#              OUT/kmod-build and built there with W=1 -Werror, so the in-tree
#              kmod/ build of `make kmod` is untouched; a warning fails)
#   --ko       a built genesys.ko (default without --series/--kdir:
#              `make -C kmod`, then kmod/genesys.ko)
#   --tests    which guest programs to run (default: all)
#   --timeout  kill a hung guest after this many seconds (default 300)
#   --kernel   the kernel image (default /boot/vmlinuz-<the module's vermagic>)
#   --host-test a dynamically linked program of the project's build (the
#              gtest suites with the kmod executor, the ring benchmark) to run
#              in the guest after the C tests; it is copied in with the shared
#              libraries ldd names. Lines it prints starting with '{' are
#              taken as benchmark JSON.
# exit: 0 PASS, 1 FAIL, 77 SKIP (a prerequisite is missing)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$here/out
ko=
kdir=
series=
kernel=
timeout_s=300
all_tests="t_ops t_devmode t_stats t_badioctl t_confine t_stress t_lifetime t_bench"
tests=$all_tests
host_tests=()

log() { printf '[kmod-qemu] %s\n' "$*"; }
skip() { log "SKIP: $*"; exit 77; }
die() { log "FAIL: $*"; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift 2 ;;
	--ko) ko=$2; shift 2 ;;
	--kdir) kdir=$2; shift 2 ;;
	--series) series=$2; shift 2 ;;
	--tests) tests=$(echo "$2" | tr ',' ' '); shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--host-test) host_tests+=("$2"); shift 2 ;;
	-h | --help) sed -n '2,30p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
done

for tool in qemu-system-x86_64 cpio gcc modinfo timeout; do
	command -v $tool >/dev/null 2>&1 || skip "$tool not found"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	busybox=/bin/busybox
[ -x "$busybox" ] || skip "no busybox (apt-get install busybox-static)"
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)

# 1. the module
if [ -z "$ko" ] && [ -n "$series" ] && [ -z "$kdir" ]; then
	kdir=$(ls -d /usr/src/linux-headers-"$series"[.-]*-amd64 2>/dev/null |
		grep -v -e '-cloud-amd64$' -e '-rt-amd64$' | sort -V | tail -n 1)
	[ -n "$kdir" ] || skip "no headers for Linux $series (/usr/src/linux-headers-$series*-amd64; tools/deps.sh installs them)"
fi
if [ -z "$ko" ] && [ -n "$kdir" ]; then
	[ -r "$kdir/include/config/kernel.release" ] || skip "$kdir is not a kernel build tree"
	build=$out/kmod-build
	log "building genesys.ko against $kdir in $build (W=1 -Werror; log: $out/kmod-build.log)"
	rm -rf "$build"
	{ make -s -C "$root/kmod" stage DEST="$build" &&
		make -j2 -C "$kdir" M="$build" W=1 KCFLAGS=-Werror modules; } >"$out/kmod-build.log" 2>&1 || {
		tail -n 20 "$out/kmod-build.log"
		die "module build against $kdir failed"
	}
	if grep -E 'warning:|WARNING' "$out/kmod-build.log"; then
		die "module build against $kdir has warnings"
	fi
	ko=$build/genesys.ko
elif [ -z "$ko" ]; then
	log "building kmod/genesys.ko (log: $out/kmod-build.log)"
	make -C "$root/kmod" >"$out/kmod-build.log" 2>&1 || {
		tail -n 20 "$out/kmod-build.log"
		grep -q 'no kernel build tree' "$out/kmod-build.log" && skip "no kernel headers"
		die "module build failed"
	}
	ko=$root/kmod/genesys.ko
fi
[ -r "$ko" ] || die "no module at $ko"
kver=$(modinfo -F vermagic "$ko" | awk '{ print $1 }')
[ -n "$kernel" ] || kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || skip "no readable kernel image $kernel for the module's $kver (apt-get install linux-image-$kver)"

# 2. the guest programs: static, so the initramfs needs no libc
stage=$out/initramfs
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/tmp" "$stage/tests"
log "building guest tests: $tests"
for t in $tests; do
	[ -f "$here/$t.c" ] || die "no test program $here/$t.c"
	gcc -std=gnu11 -static -O2 -g -pthread -Wall -Wextra -Werror -I"$root/include" \
		-o "$stage/tests/$t" "$here/$t.c" "$here/kt.c" 2>"$out/$t.build.log" || {
		cat "$out/$t.build.log"
		grep -q 'cannot find -lc\|cannot find -lpthread' "$out/$t.build.log" &&
			skip "no static libc (libc6-dev)"
		die "building $t failed"
	}
done

# 2b. the project's own programs, with their shared libraries
: >"$stage/host-tests.txt"
for spec in "${host_tests[@]}"; do
	name=${spec%%=*}
	cmd=${spec#*=}
	prog=${cmd%% *}
	args=
	[ "$prog" = "$cmd" ] || args=${cmd#* }
	[ -x "$prog" ] || die "--host-test $name: no program $prog (build it first)"
	mkdir -p "$stage/host"
	cp "$prog" "$stage/host/" || die "copying $prog"
	for lib in $(ldd "$prog" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib" || die "copying $lib for $prog"
	done
	echo "$name|/host/$(basename "$prog") $args" >>"$stage/host-tests.txt"
done
[ ${#host_tests[@]} -eq 0 ] || log "guest programs: $(cut -d'|' -f1 "$stage/host-tests.txt" | tr '\n' ' ')"

# 3. the initramfs
log "building initramfs"
cp "$busybox" "$stage/bin/busybox"
cp "$ko" "$stage/genesys.ko"
install -m 755 "$here/init.sh" "$stage/init"
(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out/initramfs.cpio" || die "cpio failed"

# 4. boot, with the console teed to a log; only the guest's own lines are echoed.
# tsc=reliable: under TCG the kernel distrusts the TSC and falls back to the
# HPET, which makes every clock read (SERVE's polling, the tests' timing) an
# emulated MMIO access; TCG's TSC follows the host clock, so it is safe here.
csv=$(echo $tests | tr ' ' ',')
log "booting $kernel under TCG (2 vCPUs, 1 GiB), timeout ${timeout_s}s; console: $out/console.log"
start=$(date +%s)
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -m 1024 -smp 2 \
	-nographic -no-reboot -nic none \
	-kernel "$kernel" -initrd "$out/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 oops=panic quiet tsc=reliable gsys_tests=$csv gsys_env=qemu-tcg" \
	</dev/null 2>&1 | tr -d '\r' | tee "$out/console.log" |
	awk '/^GENESYS|^ok |^not ok |^#|Kernel panic|BUG|Oops|WARNING/ { print "  " $0; fflush() }'
qemu_rc=${PIPESTATUS[0]}
secs=$(($(date +%s) - start))

grep '^GENESYS-BENCH ' "$out/console.log" | sed 's/^GENESYS-BENCH //' >"$out/bench.jsonl"
[ -s "$out/bench.jsonl" ] && log "benchmarks: $out/bench.jsonl"

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
	die "guest did not finish within ${timeout_s}s (killed); see $out/console.log"
fi
result=$(grep '^GENESYS-KMOD-RESULT:' "$out/console.log" | tail -n 1)
[ -n "$result" ] || die "no result line from the guest after ${secs}s (panic?); see $out/console.log"
log "$result (boot + tests + poweroff: ${secs}s)"
case $result in
*RESULT:\ PASS*) exit 0 ;;
*) exit 1 ;;
esac
