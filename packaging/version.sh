#!/usr/bin/env bash
# Prints the package version of the checked-out tree, from `git describe` (docs/packaging.md: the version scheme).
#   tag vX.Y.Z on HEAD, clean        -> X.Y.Z
#   N commits after tag vX.Y.Z       -> X.Y.Z+N.gHASH
#   no tag yet                       -> 0.0.0+N.gHASH   (N = all commits up to HEAD)
#   uncommitted changes              -> ... .dirty       (sorts after the clean build of the same commit)
# dpkg compares the numeric N numerically, so every later commit on the branch gets a higher version.
set -euo pipefail
cd "$(dirname "$0")/.."
described=$(git describe --tags --long --always --dirty --match 'v[0-9]*')
dirty=""
if [[ $described == *-dirty ]]; then dirty=".dirty"; described=${described%-dirty}; fi
if [[ $described =~ ^v([0-9][0-9A-Za-z.~]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
  base=${BASH_REMATCH[1]} count=${BASH_REMATCH[2]} hash=${BASH_REMATCH[3]}
else
  base=0.0.0 count=$(git rev-list --count HEAD) hash=$described
fi
if [ "$count" = 0 ] && [ -z "$dirty" ]; then
  echo "$base"
else
  echo "$base+$count.g$hash$dirty"
fi
