#!/usr/bin/env bash
# Prints the path of a `go` command new enough for clients/go (GO_VERSION or newer),
# installing one first when none is found.
#
# Looks at `go` on PATH, /usr/local/go/bin and $GO_SDK_DIR. When none is new enough it
# bootstraps: Debian 12's Go (package golang-1.19-go, installed under /usr/lib/go-1.19 and
# never put on PATH) downloads the release as the Go module golang.org/toolchain from the Go
# module proxy, checked against the checksum database like any module, and it is unpacked to
# $GO_SDK_DIR (default ~/sdk/goVERSION). Debian's own Go is too old for client-go, and Go 1.19
# predates GOTOOLCHAIN, hence the two steps.
# Usage: GO=$(scripts/install-go.sh)
set -euo pipefail

GO_VERSION=1.26.8                    # the toolchain that is installed when none is found
GO_MIN=1.25                          # what clients/go/go.mod needs
sdk=${GO_SDK_DIR:-$HOME/sdk/go$GO_VERSION}

log() { echo "install-go: $*" >&2; }
# new_enough GO: true when GO runs and reports at least GO_MIN.
new_enough() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" = "$GO_MIN" ]
}

for g in "$(command -v go || true)" /usr/local/go/bin/go "$sdk/bin/go"; do
  if [ -n "$g" ] && [ -x "$g" ] && new_enough "$g"; then echo "$g"; exit 0; fi
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
boot=/usr/lib/go-1.19/bin/go
if ! [ -x "$boot" ]; then
  log "installing Debian package golang-1.19-go (bootstrap only)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-1.19-go >/dev/null
fi
case $(dpkg --print-architecture) in
  amd64) arch=amd64 ;; arm64) arch=arm64 ;; *) log "unsupported architecture"; exit 1 ;;
esac
mod="golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch"
log "downloading $mod through the Go module proxy"
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
# A private module cache: the toolchain is unpacked once, to $sdk, not kept twice.
dir=$(cd "$tmp" && GOPATH="$tmp/gopath" GOFLAGS=-modcacherw GO111MODULE=on \
      "$boot" mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -f "$dir/bin/go" ] || { log "FATAL: download of $mod failed"; exit 1; }
rm -rf "$sdk.tmp"
mkdir -p "$(dirname "$sdk")"
cp -r "$dir" "$sdk.tmp"
# Module zips carry no file modes: make the commands executable again.
chmod -R u+w "$sdk.tmp"
chmod +x "$sdk.tmp"/bin/* "$sdk.tmp"/pkg/tool/*/*
rm -rf "$sdk"
mv "$sdk.tmp" "$sdk"
new_enough "$sdk/bin/go" || { log "FATAL: $sdk/bin/go does not run"; exit 1; }
log "Go $GO_VERSION installed in $sdk"
echo "$sdk/bin/go"
