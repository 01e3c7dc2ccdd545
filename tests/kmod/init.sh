#!/bin/busybox sh
# SPDX-License-Identifier: (GPL-2.0 OR MIT)
# /init of the genesys.ko test guest (copied into the initramfs by
# run-qemu.sh): mount, load the module, run the test programs, unload, scan
# the kernel log, print a machine-readable summary, power off.
#
# Lines the host reads:
#   GENESYS-KMOD-TEST: <name> PASS|FAIL|SKIP [detail]
#   GENESYS-BENCH {json}                       (printed by t_bench)
#   GENESYS-KMOD-RESULT: PASS|FAIL <passed>/<total>
# The tests to run come from the kernel command line: gsys_tests=a,b,c.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
ip link set lo up

say() { echo "GENESYS-KMOD: $*"; }
pass=0
total=0
failed=""
result() {
	echo "GENESYS-KMOD-TEST: $1 $2 $3"
	[ "$2" = SKIP ] && return
	total=$((total + 1))
	if [ "$2" = PASS ]; then pass=$((pass + 1)); else failed="$failed $1"; fi
}

say "guest up: kernel $(uname -r), $(nproc) cpus, $(cut -d' ' -f1 /proc/uptime)s since boot, clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# only what happens from here on is scanned
dmesg -c >/tmp/boot-dmesg.txt

if insmod /genesys.ko && [ -c /dev/genesys ]; then
	result insmod PASS
else
	result insmod FAIL
fi

tests=$(echo "${gsys_tests:-t_ops}" | tr ',' ' ')
for t in $tests; do
	say "running $t"
	start=$(cut -d. -f1 /proc/uptime)
	timeout 170 /tests/$t
	rc=$?
	secs=$(($(cut -d. -f1 /proc/uptime) - start))
	case $rc in
	0) result "$t" PASS "${secs}s" ;;
	77) result "$t" SKIP "${secs}s" ;;
	*) result "$t" FAIL "rc=$rc ${secs}s" ;;
	esac
done

# The project's own programs (host-tests.txt: name|command), e.g. the gtest
# suites run with the kmod executor. JSON lines they print are benchmarks.
while IFS='|' read -r name cmd; do
	[ -n "$name" ] || continue
	say "running $name: $cmd"
	start=$(cut -d. -f1 /proc/uptime)
	TMPDIR=/tmp timeout 170 $cmd >/tmp/host-test.out 2>&1
	rc=$?
	secs=$(($(cut -d. -f1 /proc/uptime) - start))
	sed -n 's/^{/GENESYS-BENCH {/p' /tmp/host-test.out
	grep -v '^{' /tmp/host-test.out | grep -E '^\[  (FAILED|PASSED|SKIPPED) |Failure|genesys:|error' | sed 's/^/GENESYS-KMOD:   /' | head -n 40
	case $rc in
	0) result "$name" PASS "${secs}s" ;;
	*) result "$name" FAIL "rc=$rc ${secs}s"; tail -n 30 /tmp/host-test.out | sed 's/^/GENESYS-KMOD:   /' ;;
	esac
done </host-tests.txt

say "/proc/genesys after the tests:"
sed 's/^/GENESYS-KMOD:   /' /proc/genesys
left=$(awk '$1 == "contexts" || $1 == "rings" || $1 == "pinned_pages" { s += $2 } END { print s + 0 }' /proc/genesys)
if [ "$left" = 0 ]; then result released PASS; else result released FAIL "contexts+rings+pinned_pages=$left"; fi

if rmmod genesys; then result rmmod PASS; else result rmmod FAIL; fi

bad=$(dmesg | grep -E 'BUG|WARNING|Oops|leak|refcount|KASAN|Call Trace|soft lockup|hung_task')
if [ -z "$bad" ]; then
	result dmesg-clean PASS
else
	echo "$bad" | sed 's/^/GENESYS-KMOD: dmesg: /'
	result dmesg-clean FAIL
fi
dmesg | grep -i genesys | sed 's/^/GENESYS-KMOD: dmesg: /'

if [ -z "$failed" ] && [ "$total" -gt 0 ]; then
	echo "GENESYS-KMOD-RESULT: PASS $pass/$total"
else
	echo "GENESYS-KMOD-RESULT: FAIL $pass/$total (failed:$failed)"
fi
sync
poweroff -f
