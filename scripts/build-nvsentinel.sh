#!/usr/bin/env bash
# Builds NVIDIA NVSentinel's Go device-api-server from a checkout, for
# comparing servers with `device-api-bench compare` (test-only: nothing here
# depends on it).
#   scripts/build-nvsentinel.sh <nvsentinel-checkout> <out-dir>
# writes <out-dir>/device-api-server. Needs Go (the version NVSentinel's
# go.mod asks for, or a toolchain Go can fetch) and its module proxy.
#
# Getting the source:
#   git clone https://github.com/NVIDIA/NVSentinel nvsentinel
#   git -C nvsentinel checkout acd20387256e4e521e1a6d3bc839dbda5a684049
#     the squash merge of pull request #720, the wire contract this project
#     follows (bench with the default --request-shape=merged), or
#   git -C nvsentinel checkout 95c0577
#     the head of that pull request before the merge: the same wire contract
#     but for UpdateGpuStatusRequest (bench with --request-shape=pr-head).
#     It is no longer on a branch of NVIDIA/NVSentinel; fetch it with
#     `git fetch origin pull/720/head`.
set -euo pipefail
src=$(cd "${1:?usage: scripts/build-nvsentinel.sh <nvsentinel-checkout> <out-dir>}" && pwd)
out=${2:?usage: scripts/build-nvsentinel.sh <nvsentinel-checkout> <out-dir>}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ -d $src/cmd/device-api-server ]] || {
  echo "$src has no cmd/device-api-server: not an NVSentinel checkout of the device API" >&2
  exit 1
}
cd "$src"
# Plain `go build`, as NVSentinel's own Makefile does for local runs.
go build -o "$out/device-api-server" ./cmd/device-api-server
echo "built $out/device-api-server ($(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))"
