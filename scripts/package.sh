#!/usr/bin/env bash
# Builds dist/mta-sts_VERSION_ARCH.deb with dpkg-deb: the release binary (Swift runtime linked statically,
# stripped), man pages generated from the argument parser's help, bash/zsh/fish completions, the systemd units,
# the example configurations as conffiles, the docs. Depends comes from dpkg-shlibdeps. docs/packaging.md
# explains every choice; scripts/package-test.sh installs the result in a clean Debian 12.
#
# The build runs in a copy of the work tree (MTASTS_RELEASE_DIR, default .build-release/src, with its own scratch
# path): there Sources/mta-sts/Version.swift names the package version, while the work tree stays clean and the
# shared .build is never locked. DIST_DIR (default dist) receives the package.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(realpath -m "${MTASTS_RELEASE_DIR:-.build-release}")
dist=$(realpath -m "${DIST_DIR:-dist}")
say() { echo "package: $*"; }
fail() { echo "package: FAIL: $*" >&2; exit 1; }

# Debian's own tools only: dpkg-shlibdeps (dpkg-dev), strip (binutils), rsync for the incremental copy.
packaging/ensure-packages.sh dpkg-dev binutils rsync

version=$(packaging/version.sh) || fail "no version: packaging/version.sh needs the git history"
arch=$(dpkg --print-architecture)
# Reproducible: file times, man page dates and the changelog date are the last commit's.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH
say "version $version ($arch)"

# 1. The sources: the work tree as it is (uncommitted changes included, hence .dirty in the version), copied so
# that unchanged files keep their times and only what changed is compiled again.
src=$work/src
mkdir -p "$src"
rsync -a --delete --exclude=/.git --exclude='/.build*' --exclude=/dist --exclude=/Sources/mta-sts/Version.swift \
  --include=/Package.resolved --filter=':- .gitignore' ./ "$src/"
sed "s/^let mtastsVersion = \".*\"\$/let mtastsVersion = \"$version\"/" Sources/mta-sts/Version.swift > "$work/Version.swift"
grep -qF "\"$version\"" "$work/Version.swift" || fail "Sources/mta-sts/Version.swift has no 'let mtastsVersion = \"...\"' line"
cmp -s "$work/Version.swift" "$src/Sources/mta-sts/Version.swift" || cp "$work/Version.swift" "$src/Sources/mta-sts/Version.swift"

# 2. The release binary, and generate-manual from the argument parser's own checkout (what its generate-manual
# plugin runs, without the plugin's extra build of every product).
# -z now: full RELRO (lintian: hardening-no-bindnow); a linker flag only, so a change relinks and compiles nothing.
build=(swift build -c release --static-swift-stdlib -Xlinker -z -Xlinker now --package-path "$src" --scratch-path "$work/scratch")
say "building the release binary (the first build takes long)"
started=$SECONDS
nice -n 10 "${build[@]}" --product mta-sts || fail "swift build -c release failed (output above)"
say "release build: $((SECONDS - started)) s"
bin=$("${build[@]}" --show-bin-path)/mta-sts
parser=$work/scratch/checkouts/swift-argument-parser
tools=(swift build --package-path "$parser" --scratch-path "$work/tools")
nice -n 10 "${tools[@]}" --product generate-manual >/dev/null || fail "building generate-manual from $parser failed"
manual=$("${tools[@]}" --show-bin-path)/generate-manual
printed=$("$bin" --version)
[ "$printed" = "$version" ] || fail "mta-sts --version printed '$printed', expected '$version'"

# 3. The tree of the package.
stage=$work/stage
rm -rf "$stage"
doc=$stage/usr/share/doc/mta-sts
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/man/man1" "$stage/lib/systemd/system" "$stage/etc/mta-sts" \
  "$doc/docs" "$doc/examples" "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
  "$stage/usr/share/fish/vendor_completions.d"
install -m 0755 "$bin" "$stage/usr/bin/mta-sts"
# As dh_strip: no symbols, no .comment/.note sections.
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$stage/usr/bin/mta-sts"

# Man pages: one per command and subcommand (mta-sts.1, mta-sts.resolver.1, mta-sts.policy.check.1, ...).
man=$work/man
rm -rf "$man" && mkdir -p "$man"
"$manual" "$stage/usr/bin/mta-sts" --multi-page --section 1 --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)" \
  --output-directory "$man" || fail "generate-manual failed"
[ -f "$man/mta-sts.1" ] || fail "generate-manual wrote no mta-sts.1"
# A subcommand's NAME is `mta-sts cache`, which man-db's whatis parser (lexgrog) cannot read: NAME gets the page's
# own name (`mta-sts.cache`, what `man` and `whatis` are given) and SYNOPSIS keeps the command as it is typed.
for page in "$man"/*.1; do
  awk 'name == "" && /^\.Nm "[^"]*"$/ { name = substr($0, 6, length($0) - 6); page = name; gsub(/ /, ".", page)
                                        print ".Nm " page; next }
       name != "" && /^\.Nm$/ { print ".Nm \"" name "\""; next }
       { print }' "$page" | gzip -9n > "$stage/usr/share/man/man1/$(basename "$page").gz"
done

# bash-completion sources the bash script: no #! line (lintian: bash-completion-with-hashbang).
"$stage/usr/bin/mta-sts" --generate-completion-script bash | sed '1{/^#!/d}' > "$stage/usr/share/bash-completion/completions/mta-sts"
"$stage/usr/bin/mta-sts" --generate-completion-script zsh > "$stage/usr/share/zsh/vendor-completions/_mta-sts"
"$stage/usr/bin/mta-sts" --generate-completion-script fish > "$stage/usr/share/fish/vendor_completions.d/mta-sts.fish"

for unit in contrib/*.service; do
  grep -q '^ExecStart=/usr/bin/mta-sts ' "$unit" || fail "$unit: ExecStart does not run /usr/bin/mta-sts"
  install -m 0644 "$unit" "$stage/lib/systemd/system/"
done
install -m 0644 contrib/resolver.yml contrib/serve.yml "$stage/etc/mta-sts/"
(cd "$stage" && find etc -type f | sort | sed 's,^,/,') > "$stage/DEBIAN/conffiles"

install -m 0644 README.md "$doc/"
install -m 0644 docs/*.md "$doc/docs/"
cp -r examples/. "$doc/examples/"
find "$doc/examples" -type d -exec chmod 0755 {} + && find "$doc/examples" -type f -exec chmod 0644 {} +
{
  cat packaging/copyright.head
  for dir in "$work"/scratch/checkouts/*/; do
    name=$(basename "$dir")
    license=$(ls "$dir" | grep -m1 -E '^(LICENSE|COPYING)') || fail "$name: no license file in its checkout"
    printf '\n%s\n%s: %s\n' "------------------------------------------------------------------------" "$name" "$license"
    if grep -q 'Apache License' "$dir/$license" && grep -q 'Version 2.0' "$dir/$license"; then
      echo "Apache License 2.0 (/usr/share/common-licenses/Apache-2.0)$(grep -q 'Runtime Library Exception' "$dir/$license" && echo ' with Runtime Library Exception')."
    else
      echo && cat "$dir/$license"
    fi
    if [ -f "$dir/NOTICE.txt" ]; then echo && cat "$dir/NOTICE.txt"; fi
  done
} > "$doc/copyright"
maintainer=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>')}
{
  printf 'mta-sts (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Built from commit %s of the mta-sts repository.\n' "$(git rev-parse --short=12 HEAD)"
  printf '  * Changes: git log in the repository; the project keeps no separate changelog.\n\n'
  printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.gz"

install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$stage/DEBIAN/"
install -D -m 0644 packaging/lintian-overrides "$stage/usr/share/lintian/overrides/mta-sts"

# 4. Depends from the binary's shared libraries (libunbound8, libidn2-0, libsqlite3-0, libc6, libstdc++6, ...):
# dpkg-shlibdeps wants a debian/control beside it.
shl=$work/shlibdeps
rm -rf "$shl" && mkdir -p "$shl/debian"
printf 'Source: mta-sts\n\nPackage: mta-sts\nArchitecture: any\n' > "$shl/debian/control"
depends=$(cd "$shl" && dpkg-shlibdeps -O "$stage/usr/bin/mta-sts" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || fail "dpkg-shlibdeps found no dependencies"
size=$(du -k -s --apparent-size --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@SIZE@|$size|" \
  -e "s|@DEPENDS@|$depends|" packaging/control.in > "$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

# 5. The package; an older one goes, so that dist/mta-sts_*.deb names exactly one.
mkdir -p "$dist"
rm -f "$dist"/mta-sts_*.deb
deb=$dist/mta-sts_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
say "Depends: $depends"
say "built $deb ($(du -h "$deb" | cut -f1))"
