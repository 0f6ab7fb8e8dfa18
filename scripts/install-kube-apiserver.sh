#!/usr/bin/env bash
# A real Kubernetes API server for the end-to-end tests (tests/support/apiserver.rs):
# kube-apiserver 1.20.2 built from Debian bookworm's `kubernetes` source package with
# Debian's Go 1.19, plus Debian's etcd 3.4 (etcd-server, etcd-client: /usr/bin/etcd and
# /usr/bin/etcdctl). No package carries a kube-apiserver binary, so it is built once
# (about 12 minutes on 2 cores) and cached in .cache/kube/bin/ (git-ignored).
#
# Idempotent and non-interactive; run as root. Exits at once when the cached binary runs
# and etcd, etcdctl and openssl are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.cache/kube/bin/kube-apiserver
work=$root/.cache/kube/build
export DEBIAN_FRONTEND=noninteractive

runtime_ready() { command -v etcd && command -v etcdctl && command -v openssl; } >/dev/null 2>&1
if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1 && runtime_ready; then
  exit 0
fi

# apt-get update, waiting while another apt holds the lists lock (no lock timeout option
# covers it); installs wait on the dpkg lock with DPkg::Lock::Timeout.
apt_update() {
  local i
  for i in $(seq 60); do
    apt-get update -qq >/dev/null 2>&1 && return 0
    sleep 5
  done
  apt-get update -qq
}
apt_install() {
  # A package's postinst must not start a system daemon (etcd-server would start one on
  # port 2379): deny service starts while installing unless a policy already exists.
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "$@" >/dev/null \
    2> >(grep -v '^debconf: delaying package configuration' >&2)
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
}

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
  echo "kube-apiserver is cached; installing etcd-server etcd-client openssl"
  apt_update
  apt_install etcd-server etcd-client openssl
  exit 0
fi

start=$(date +%s)
echo "building kube-apiserver 1.20.2 from Debian's kubernetes source package (about 12 min)"

# 1. A deb-src entry for bookworm main, from the mirror and key of the existing deb entry
#    (deb822 .sources files or a one-line sources.list), unless source indexes already
#    offer kubernetes 1.20.
apt_update
if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Version: .*1\.20\.'; then
  entry=$(
    awk -v RS= -F'\n' '
      { t = u = s = c = k = "" }
      { for (i = 1; i <= NF; i++) {
          split($i, kv, /:[ \t]*/); f = tolower(kv[1]); v = substr($i, length(kv[1]) + 2)
          gsub(/^[ \t]+/, "", v)
          if (f == "types") t = v; else if (f == "uris") u = v; else if (f == "suites") s = v
          else if (f == "components") c = v; else if (f == "signed-by") k = v } }
      t ~ /(^| )deb( |$)/ && s ~ /(^| )bookworm( |$)/ && c ~ /(^| )main( |$)/ && u != "" {
        split(u, us, " "); print us[1] "|" k; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
  )
  if [ -z "$entry" ] && [ -f /etc/apt/sources.list ]; then
    entry=$(awk '$1 == "deb" && / bookworm / && / main/ {
        for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i "|"; exit } }' /etc/apt/sources.list)
  fi
  if [ -z "$entry" ]; then
    echo "no 'deb' entry for bookworm main found in /etc/apt: cannot add its deb-src" >&2
    exit 1
  fi
  uri=${entry%%|*} key=${entry#*|}
  echo "adding deb-src $uri bookworm main"
  {
    echo "Types: deb-src"
    echo "URIs: $uri"
    echo "Suites: bookworm"
    echo "Components: main"
    if [ -n "$key" ]; then echo "Signed-By: $key"; fi
  } >/etc/apt/sources.list.d/accord-kube-src.sources
  apt_update
fi

# 2. Build tools, etcd, and Debian's Go sources of reflect2 1.0.2 / json-iterator 1.1.12.
echo "installing golang-go make rsync etcd-server etcd-client openssl and two Go source packages"
apt_install golang-go make rsync etcd-server etcd-client openssl \
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev

# 3. The source: the orig tarball is the whole 1.20.2 tree with vendor/. Debian's own
#    patches only touch kubectl's printing, so the orig tree is used as it is.
rm -rf "$work"
mkdir -p "$work"
cd "$work"
echo "downloading the kubernetes/bookworm source package"
apt-get source --download-only -qq -o APT::Sandbox::User=root kubernetes/bookworm >/dev/null
tar xzf kubernetes_*.orig.tar.gz
tree=$(find "$work" -maxdepth 1 -type d -name 'kubernetes-1.20.*' | head -n1)
[ -n "$tree" ] || { echo "no kubernetes-1.20.* tree in the orig tarball" >&2; exit 1; }
cd "$tree"

# 4. Three vendor/ changes so that Go 1.19 builds a working 1.20 server.
echo "patching vendor/ for Go 1.19"
# 4a. reflect2 1.0.1 (and json-iterator 1.1.10 on top of it) reach into the runtime's map
#     iterator through go:linkname; its layout changed in Go 1.18, and the server dies with
#     "unexpected fault address" when encoding maps. reflect2 1.0.2 / json-iterator 1.1.12
#     are the upstream fixes; Debian ships their sources. Only the package's own files are
#     copied (no tests). The build runs in GOPATH mode (hack/lib/init.sh sets
#     GO111MODULE=off), so vendor/modules.txt, which still names the old versions, is not
#     consulted.
for pkg in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  src=/usr/share/gocode/src/$pkg
  [ -f "$src/go.mod" ] || { echo "missing $src" >&2; exit 1; }
  rm -rf "vendor/$pkg"
  mkdir -p "vendor/$pkg"
  find "$src" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' -o -name go.mod \) \
    ! -name '*_test.go' -exec cp {} "vendor/$pkg/" \;
done
# 4b, 4c. The schema type validator treats a value as JSON null when
#     reflect.DeepEqual(reflect.Zero(T), reflect.ValueOf(data)) holds. That compares two
#     reflect.Value headers; since Go 1.16 reflect.Zero shares one zero buffer, so it holds
#     for "" and a custom resource with an empty string is rejected ("must be of type
#     string, got null"). Upstream removed the check (kube-openapi PR 230, in 1.21): only a
#     real nil is null. Same code in kube-openapi's copy and in go-openapi/validate.
for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go \
  vendor/github.com/go-openapi/validate/type.go; do
  sed -i 's/if data == nil || reflect\.DeepEqual(reflect\.Zero(reflect\.TypeOf(data)), reflect\.ValueOf(data)) {/if data == nil {/' "$f"
  if grep -q 'reflect\.DeepEqual(reflect\.Zero' "$f"; then
    echo "patch did not apply to $f" >&2
    exit 1
  fi
done

# 5. Build as Debian's rules do: GOPATH with the tree linked in, no cgo. The Go build cache
#    stays under the work dir so it goes away with it.
echo "building (make WHAT=cmd/kube-apiserver)"
mkdir -p .go/src/k8s.io
[ -L .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
export GOPATH=$tree/.go GOCACHE=$work/gocache CGO_ENABLED=0 GOFLAGS= GO111MODULE=
if ! make WHAT=cmd/kube-apiserver >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  echo "build failed; the full log is $work/build.log" >&2
  exit 1
fi
mkdir -p "$(dirname "$bin")"
cp _output/bin/kube-apiserver "$bin.tmp"
mv "$bin.tmp" "$bin"
"$bin" --version
cd "$root"
rm -rf "$work"
echo "built $bin in $(($(date +%s) - start)) s; etcd is $(command -v etcd), etcdctl $(command -v etcdctl)"
