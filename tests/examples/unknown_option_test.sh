#!/usr/bin/env bash
# An unknown option gets one message naming it (getopt's, as GNU tools
# print it) and where help is, then a usage exit status. The programs once
# added "NAME: invalid option" after getopt's own line: two messages, the
# second naming nothing.
# usage: unknown_option_test.sh PROGRAM[:SUBCOMMAND]...
failed=0
for spec in "$@"; do
  prog=${spec%%:*}
  sub=
  [ "$spec" != "$prog" ] && sub=${spec#*:}
  name=$(basename "$prog")${sub:+ $sub}
  err=$("$prog" ${sub:+"$sub"} --no-such-option 2>&1 > /dev/null)
  rc=$?
  expect="Try '$name --help' for more information."
  if [ "$rc" = 0 ] || [ "$(wc -l <<< "$err")" != 2 ] ||
    ! head -1 <<< "$err" | grep -qF "unrecognized option '--no-such-option'" ||
    [ "$(tail -1 <<< "$err")" != "$expect" ]; then
    echo "FAIL: $name --no-such-option: exit $rc, stderr:"
    echo "$err"
    failed=1
  else
    echo "ok: $name: exit $rc"
  fi
done
exit $failed
