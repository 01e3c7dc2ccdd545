#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR MIT)
# Description: the DKMS packaging of genesys.ko builds. Stages the sources the
# way `make -C kmod dkms-install` does (make -C kmod stage), then runs
# `dkms add` and `dkms build -k <release>` against each installed Debian
# header tree of the given series, in a private DKMS tree, source tree and
# signing key (--dkmstree/--sourcetree, mok_* in the environment), so the
# system's /var/lib/dkms and /usr/src stay untouched. Checks the built module's
# vermagic and that the compiler printed no warning.
#
# usage: tests/kmod/dkms-build.sh [--out DIR] [SERIES...]   (default: 6.1 6.12)
# exit: 0 PASS, 1 FAIL, 77 SKIP (no dkms, not root, or no header tree at all)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=
series=()

log() { printf '[kmod-dkms] %s\n' "$*"; }
skip() { log "SKIP: $*"; exit 77; }
die() { log "FAIL: $*"; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0"; exit 0 ;;
	-*) die "unknown argument $1" ;;
	*) series+=("$1"); shift ;;
	esac
done
[ ${#series[@]} -gt 0 ] || series=(6.1 6.12)

command -v dkms >/dev/null 2>&1 || skip "dkms not found (apt-get install dkms)"
[ "$(id -u)" -eq 0 ] || skip "dkms needs root"

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$root/kmod/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$root/kmod/dkms.conf")
[ -n "$name" ] && [ -n "$version" ] || die "no PACKAGE_NAME/PACKAGE_VERSION in kmod/dkms.conf"
mkver=$(sed -n 's/^VERSION := //p' "$root/kmod/Makefile")
[ "$mkver" = "$version" ] || die "kmod/Makefile VERSION $mkver != dkms.conf PACKAGE_VERSION $version"

tmp=$(mktemp -d /tmp/genesys-dkms.XXXXXX) || die "mktemp"
trap 'rm -rf "$tmp"' EXIT
[ -n "$out" ] || out=$tmp/out
mkdir -p "$out" || die "cannot create $out"
src=$tmp/src
tree=$tmp/tree
mkdir -p "$src" "$tree"
dk=(--sourcetree "$src" --dkmstree "$tree")
# a throwaway signing key instead of /var/lib/dkms/mok.{key,pub}
export mok_signing_key=$tmp/mok.key mok_certificate=$tmp/mok.pub

make -s -C "$root/kmod" stage DEST="$src/$name-$version" >"$out/stage.log" 2>&1 ||
	{ cat "$out/stage.log"; die "make -C kmod stage failed"; }
dkms add -m "$name" -v "$version" "${dk[@]}" >"$out/add.log" 2>&1 ||
	{ cat "$out/add.log"; die "dkms add failed"; }

built=0
failed=0
for s in "${series[@]}"; do
	kdir=$(ls -d /usr/src/linux-headers-"$s"[.-]*-amd64 2>/dev/null |
		grep -v -e '-cloud-amd64$' -e '-rt-amd64$' | sort -V | tail -n 1)
	if [ -z "$kdir" ]; then
		log "SKIP $s: no /usr/src/linux-headers-$s*-amd64"
		continue
	fi
	# the release modules are built for (Debian's kernel.release of 6.1 says 6.1.NNN)
	kver=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h" 2>/dev/null)
	[ -n "$kver" ] || { log "FAIL $s: no UTS_RELEASE in $kdir"; failed=$((failed + 1)); continue; }
	blog=$out/build-$kver.log
	if ! dkms build -m "$name" -v "$version" -k "$kver" --kernelsourcedir "$kdir" \
		"${dk[@]}" >"$blog" 2>&1; then
		tail -n 20 "$blog"
		mlog=$tree/$name/$version/build/make.log
		[ -r "$mlog" ] && tail -n 30 "$mlog"
		log "FAIL $kver: dkms build"
		failed=$((failed + 1))
		continue
	fi
	ko=$(find "$tree/$name/$version/$kver" -name "$name.ko*" | head -n 1)
	mlog=$(find "$tree/$name/$version/$kver" -name make.log | head -n 1)
	vm=$([ -n "$ko" ] && modinfo -F vermagic "$ko" | awk '{ print $1 }')
	if [ "$vm" != "$kver" ]; then
		log "FAIL $kver: built module ${ko:-(none)} has vermagic '${vm}'"
		failed=$((failed + 1))
	elif [ -n "$mlog" ] && grep -E 'warning:|WARNING' "$mlog"; then
		log "FAIL $kver: the build printed warnings ($mlog)"
		failed=$((failed + 1))
	else
		log "PASS $kver: dkms build -> ${ko#"$tree"/}"
		built=$((built + 1))
	fi
done
dkms status "${dk[@]}" 2>/dev/null | sed 's/^/[kmod-dkms]   /'

[ $failed -eq 0 ] || die "$failed of ${#series[@]} header trees failed"
[ $built -gt 0 ] || skip "no header tree of ${series[*]} installed"
log "PASS: dkms build for $built kernel(s)"
exit 0
