#!/usr/bin/env bash
# `make pull`: fetch every artifact of dvc.lock from the DVC remote, then restamp (see restamp.sh).
# A fresh clone beside no remote yet gets one line saying what to do instead of DVC's cache-file listing.
set -euo pipefail
cd "$(dirname "$0")/../.."
remote=$(dvc remote default 2>/dev/null || true)
url=$(dvc remote list 2>/dev/null | awk -v r="$remote" '$1 == r {print $2}')
case "$url" in
  *://*) ;;  # s3://, ssh://, ... : let DVC report
  "") echo "pull: no DVC remote configured; add one: dvc remote add -d shared /path/to/remote" >&2; exit 1 ;;
  *)
    where="$url"
    [ "${where#/}" = "$where" ] && where=".dvc/$url"  # DVC resolves a relative URL from the .dvc folder
    if [ ! -d "$where" ]; then
      echo "pull: DVC remote '$remote' ($where) does not exist yet: run \`make push\` in a clone that has the artifacts, or point it elsewhere with \`dvc remote modify --local $remote url PATH\`" >&2
      exit 1
    fi ;;
esac
dvc pull
workflow/scripts/restamp.sh
