#!/usr/bin/env bash
# Tests the Debian package as an operator meets it: lintian on the .deb, then in a clean Debian 12 root made by
# debootstrap: `apt install ./mta-sts_*.deb` (apt resolves Depends), --version, man pages, completions, policy
# check on an example, the resolver run as the mta-sts user answering a socketmap query on loopback, reinstall,
# remove (configuration, user and state kept) and purge (all gone). Every check prints `package-test: ok: ...`;
# the last line is `package: ok: N checks passed` (scripts/test.sh counts them). docs/packaging.md.
#
#   scripts/package-test.sh [DEB]     # without DEB: scripts/package.sh builds dist/mta-sts_VERSION_ARCH.deb first
#
# MTASTS_RELEASE_DIR (default .build-release) holds the root and a tarball of the fresh debootstrap
# (bookworm-minbase.tar, reused for 7 days; delete it to start from debootstrap). DEBIAN_MIRROR overrides the
# mirror, which is otherwise the one this machine's apt uses. Needs root (debootstrap, chroot, mount).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(realpath -m "${MTASTS_RELEASE_DIR:-.build-release}")
passed=0
ok() { passed=$((passed + 1)); echo "package-test: ok: $*"; }
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap, chroot and mount need it)"

# systemd only for `systemd-analyze verify` of the units on this host (no init runs in the chroot).
packaging/ensure-packages.sh debootstrap lintian systemd

phase() { echo "package-test: $1 took $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }
phase_start=$SECONDS
if [ $# -ge 1 ]; then
  deb=$(realpath "$1")
else
  scripts/package.sh
  deb=$(ls "${DIST_DIR:-dist}"/mta-sts_*.deb)
fi
[ -f "$deb" ] || fail "no package at $deb"
phase "building the package"
version=$(dpkg-deb -f "$deb" Version)

# 0. The version scheme (packaging/version.sh) in a scratch repository: untagged, tagged, after a tag, dirty; each
# later state sorts higher for dpkg.
repo=$work/version-repo
rm -rf "$repo" && mkdir -p "$repo/packaging" && cp packaging/version.sh "$repo/packaging/"
vgit() { git -C "$repo" -c user.name=t -c user.email=t@t.invalid "$@" >/dev/null; }
vgit init -q && vgit add -A && vgit commit -q -m one
versions=("$("$repo/packaging/version.sh")")
vgit tag v1.2.0 && versions+=("$("$repo/packaging/version.sh")")
echo x > "$repo/file" && vgit add file && vgit commit -q -m two && versions+=("$("$repo/packaging/version.sh")")
echo y >> "$repo/file" && versions+=("$("$repo/packaging/version.sh")")
hash=$(git -C "$repo" rev-parse --short HEAD)
[[ "${versions[0]}" =~ ^0\.0\.0\+1\.g[0-9a-f]+$ && "${versions[1]}" = 1.2.0 && "${versions[2]}" = "1.2.0+1.g$hash" \
   && "${versions[3]}" = "1.2.0+1.g$hash.dirty" ]] || fail "packaging/version.sh gave ${versions[*]}"
for i in 1 2 3; do
  dpkg --compare-versions "${versions[i]}" gt "${versions[i-1]}" || fail "version ${versions[i]} does not sort above ${versions[i-1]}"
done
rm -rf "$repo"
ok "version scheme: ${versions[*]}"

# 1. lintian: no error, and no warning that packaging/lintian-overrides does not accept with its reason.
lintian --fail-on error,warning --display-info "$deb" > "$work/lintian.log" 2>&1 || { cat "$work/lintian.log"; fail "lintian: errors or unaccepted warnings (above)"; }
cat "$work/lintian.log"
ok "lintian: no errors, no unaccepted warnings"
phase lintian

# 2. A clean Debian 12 root from the mirror this machine's apt uses.
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)}
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\)\/* .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)
[ -n "$mirror" ] || fail "no Debian mirror in /etc/apt/sources.list(.d); set DEBIAN_MIRROR"
root=$work/chroot
base=$work/bookworm-minbase.tar
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  for m in "$root/proc" "$root/dev/pts"; do
    if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
  done
  # Only a root with nothing mounted in it is deleted.
  if [ -d "$root" ] && ! findmnt -rn -o TARGET | grep -q "^$root/"; then rm -rf "$root"; fi
}
trap cleanup EXIT
cleanup
if [ -f "$base" ] && [ -n "$(find "$base" -mtime -7)" ]; then
  mkdir -p "$root" && tar -C "$root" -xf "$base"
else
  echo "package-test: debootstrap --variant=minbase bookworm from $mirror"
  rm -f "$base"
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; fail "debootstrap failed (log above)"; }
  tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
fi
phase "the clean root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
ok "clean Debian 12 root ($(in_root cat /etc/debian_version))"

# 3. apt installs the package and resolves its Depends; man-db only for `man -w`.
cp "$deb" "$root/tmp/"
in_root apt-get update -qq
in_root apt-get -o Dpkg::Use-Pty=0 install -y -qq --no-install-recommends man-db >/dev/null
in_root apt-get -o Dpkg::Use-Pty=0 install -y -qq "/tmp/$(basename "$deb")" > "$work/apt-install.log" 2>&1 || { cat "$work/apt-install.log"; fail "apt install of the package failed"; }
[ "$(in_root dpkg-query -W -f='${Status} ${Version}' mta-sts)" = "install ok installed $version" ] || fail "dpkg does not list mta-sts $version as installed"
ok "apt install ./$(basename "$deb") (Depends: $(dpkg-deb -f "$deb" Depends))"

printed=$(in_root mta-sts --version)
[ "$printed" = "$version" ] || fail "mta-sts --version printed '$printed', the package is $version"
ok "mta-sts --version: $printed"

for page in mta-sts mta-sts.resolver mta-sts.serve mta-sts.policy.check; do
  path=$(in_root man -w "$page") || fail "man -w $page found no page"
done
in_root sh -c 'MANWIDTH=80 man mta-sts.resolver 2>&1 >/dev/null' | grep . && fail "man mta-sts.resolver printed warnings (above)"
ok "man pages (man -w mta-sts: $(in_root man -w mta-sts))"

for f in /usr/share/bash-completion/completions/mta-sts /usr/share/zsh/vendor-completions/_mta-sts \
         /usr/share/fish/vendor_completions.d/mta-sts.fish; do
  in_root test -s "$f" || fail "completion script $f missing or empty"
done
in_root bash -n /usr/share/bash-completion/completions/mta-sts || fail "the bash completion script does not parse"
ok "bash, zsh and fish completions"

in_root mta-sts policy check /usr/share/doc/mta-sts/examples/policies/provider-enforce.txt || fail "policy check on the example"
status=0; in_root mta-sts policy check /usr/share/doc/mta-sts/examples/broken/common-mistakes.txt >/dev/null 2>&1 || status=$?
[ "$status" = 1 ] || fail "policy check on a broken example exited $status, expected 1"
ok "policy check on the examples (valid: 0, broken: 1)"

[ "$(in_root stat -c '%U:%G %a' /var/lib/mta-sts)" = "mta-sts:mta-sts 750" ] || fail "/var/lib/mta-sts is not mta-sts:mta-sts 0750"
in_root getent passwd mta-sts-serve >/dev/null || fail "no mta-sts-serve user"
[ "$(in_root dpkg-query -W -f='${Conffiles}' mta-sts | awk 'NF {print $1}' | sort | tr '\n' ' ')" = "/etc/mta-sts/resolver.yml /etc/mta-sts/serve.yml " ] \
  || fail "the conffiles are not /etc/mta-sts/resolver.yml and serve.yml"
for unit in mta-sts-resolver.service mta-sts-serve.service; do
  in_root grep -q '^ExecStart=/usr/bin/mta-sts ' "/lib/systemd/system/$unit" || fail "$unit does not run /usr/bin/mta-sts"
  [ -z "$(find "$root/etc/systemd/system" -name "$unit")" ] || fail "$unit is enabled on install; it must wait for the operator"
done
ok "users, /var/lib/mta-sts 0750, conffiles, units installed and not enabled"

# The units as systemd 252 (Debian 12) reads them, with ExecStart pointed at the installed binary in the root.
units=$work/units
rm -rf "$units" && mkdir -p "$units"
for unit in mta-sts-resolver.service mta-sts-serve.service; do
  sed "s,/usr/bin/mta-sts ,$root/usr/bin/mta-sts ," "$root/lib/systemd/system/$unit" > "$units/$unit"
done
systemd-analyze verify --man=no "$units"/*.service > "$work/systemd-analyze.log" 2>&1 \
  || { cat "$work/systemd-analyze.log"; fail "systemd-analyze verify found faults in the units (above)"; }
[ ! -s "$work/systemd-analyze.log" ] || { cat "$work/systemd-analyze.log"; fail "systemd-analyze verify warned about the units (above)"; }
ok "systemd-analyze verify: both units"

# 4. The resolver as the mta-sts user with the packaged configuration (its cache in /var/lib/mta-sts), on a free
# loopback port: `[127.0.0.1]:25` is a literal next hop, answered NOTFOUND without any DNS.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 28461)
chroot "$root" /usr/bin/setpriv --reuid=mta-sts --regid=mta-sts --init-groups /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/mta-sts \
  mta-sts resolver --config /etc/mta-sts/resolver.yml --listen "127.0.0.1:$port" > "$work/resolver.log" 2>&1 &
pid=$!
query='postfix [127.0.0.1]:25'
reply=""
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || { cat "$work/resolver.log"; fail "the resolver exited (log above)"; }
  reply=$(in_root bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf '%s:%s,' ${#query} '$query' >&3 && IFS= read -r -t 5 -d , r <&3 && printf '%s' \"\$r\"" 2>/dev/null) && break
  sleep 0.3
done
[ "$reply" = "9:NOTFOUND " ] || { cat "$work/resolver.log"; fail "socketmap reply '$reply', expected '9:NOTFOUND '"; }
[ "$(in_root stat -c %U /var/lib/mta-sts/cache.sqlite)" = mta-sts ] || fail "the resolver did not create its cache as mta-sts"
kill "$pid" && wait "$pid" || true
pid=""
ok "resolver as mta-sts on 127.0.0.1:$port answered '$query' with '$reply' (cache in /var/lib/mta-sts)"

# 5. Reinstall (the upgrade path of the maintainer scripts), remove, purge.
in_root apt-get -o Dpkg::Use-Pty=0 install -y -qq --reinstall "/tmp/$(basename "$deb")" >/dev/null 2>&1 || fail "apt reinstall failed"
in_root test -f /var/lib/mta-sts/cache.sqlite || fail "reinstall lost the cache"
ok "reinstall keeps the state"

in_root apt-get -o Dpkg::Use-Pty=0 remove -y -qq mta-sts >/dev/null || fail "apt-get remove failed"
in_root test ! -e /usr/bin/mta-sts || fail "remove left /usr/bin/mta-sts"
in_root test -f /etc/mta-sts/resolver.yml || fail "remove took the configuration"
in_root test -f /var/lib/mta-sts/cache.sqlite || fail "remove took the cache (only purge may)"
in_root getent passwd mta-sts >/dev/null || fail "remove took the mta-sts user (only purge may)"
ok "remove: binary gone; configuration, cache and users kept"

in_root apt-get -o Dpkg::Use-Pty=0 purge -y -qq mta-sts >/dev/null || fail "apt-get purge failed"
in_root test ! -e /etc/mta-sts || fail "purge left /etc/mta-sts"
in_root test ! -e /var/lib/mta-sts || fail "purge left /var/lib/mta-sts"
! in_root getent passwd mta-sts >/dev/null || fail "purge left the mta-sts user"
! in_root getent group mta-sts-serve >/dev/null || fail "purge left the mta-sts-serve group"
[ -z "$(in_root dpkg-query -W -f='${Status}' mta-sts 2>/dev/null)" ] || fail "dpkg still knows mta-sts after purge"
[ -z "$(find "$root/etc/systemd" -name 'mta-sts*' 2>/dev/null)" ] || fail "purge left unit state under /etc/systemd"
ok "purge: configuration, cache, users and unit state gone"

phase "the tests in the root"
echo "package: ok: $passed checks passed"
