#!/usr/bin/env bash
# Every script that make's tools (tools/*.sh, bench/*.sh, the Makefile and
# examples/*/*.sh) run by path, not through "bash script", must be
# executable: `make bench` once printed "blindsight_plot.sh: Permission
# denied" and went on without its plot.
# usage: tools/scripts_runnable.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
bad=0
callers=(Makefile tools/*.sh bench/*.sh examples/*/*.sh)
# Paths of the form $root/x/y.sh or a bare x/y.sh at the start of a command.
for f in $(grep -ohE '(\$root/|^[[:space:]]*@?)(tools|bench|examples|tests)/[A-Za-z0-9_/.-]+\.sh' "${callers[@]}" |
  sed -E 's/^[[:space:]]*@?//; s/^\$root\///' | sort -u); do
  # A script run as "bash x.sh" or "sh x.sh" need not be executable.
  if grep -hE "(bash|sh)[[:space:]]+\"?(\\\$root/)?$f" "${callers[@]}" >/dev/null; then continue; fi
  if [ ! -e "$f" ]; then echo "missing: $f (run by path)"; bad=1
  elif [ ! -x "$f" ]; then echo "not executable: $f (run by path)"; bad=1
  fi
done
[ $bad = 0 ] && echo "every script run by path is executable"
exit $bad
