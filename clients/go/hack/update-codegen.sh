#!/usr/bin/env bash
# Regenerates the checked-in Go code of this module:
#   pb/device_api.pb.go, pb/device_api_grpc.pb.go   from ../../api/device_api.proto
#       (protoc from Debian's protobuf-compiler; protoc-gen-go and protoc-gen-go-grpc at the
#        versions pinned in hack/tools/go.mod, from the Go module proxy)
#   apis/*/*/zz_generated.deepcopy.go               (deepcopy-gen, pinned the same way)
# Usage: hack/update-codegen.sh [MODULE_DIR]   (default: this module; the staleness test
#        passes a copy of the module and compares the result with the checked-in files).
# Needs `go` on PATH (scripts/install-go.sh) and `protoc`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mod=$(cd "${1:-$here}" && pwd)
api=$(cd "$here/../../api" && pwd)
pkg=github.com/nvidia/device-api-server/clients/go

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# Plugins built from the pinned tools module (hack/tools/go.mod), never from PATH.
(cd "$here/hack/tools" && GOFLAGS=-mod=readonly go build -o "$bin/" \
   google.golang.org/protobuf/cmd/protoc-gen-go \
   google.golang.org/grpc/cmd/protoc-gen-go-grpc \
   k8s.io/code-generator/cmd/deepcopy-gen)

# The .proto names no go_package: the import path is given here, so the wire contract
# stays free of language options.
protoc -I "$api" \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out="$mod/pb" --go_opt=paths=source_relative --go_opt=Mdevice_api.proto="$pkg/pb" \
  --go-grpc_out="$mod/pb" --go-grpc_opt=paths=source_relative --go-grpc_opt=Mdevice_api.proto="$pkg/pb" \
  "$api/device_api.proto"

(cd "$mod" && "$bin/deepcopy-gen" --go-header-file "$here/hack/boilerplate.go.txt" \
   --output-file zz_generated.deepcopy.go ./apis/...)
