# syntax=docker/dockerfile:1
# device-api-k8s-bridge image: a static Go binary (CGO off) on Debian 12, non-root (65534),
# read-only root filesystem friendly. It reads the node's GPUs from the Device API socket and
# writes their health into the Kubernetes API with the pod's ServiceAccount token.
# Build from the repository root (only clients/go is sent, see the .dockerignore):
#   docker build -f deploy/docker/device-api-k8s-bridge.Dockerfile \
#     --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t device-api-k8s-bridge:0.1.0 .
# Behind a module mirror: --build-arg GOPROXY=https://goproxy.example.com.
# A test (test/e2e/deploy) checks that the Go image is at least the go directive of
# clients/go/go.mod, that every COPY source exists and is not excluded by the .dockerignore,
# and that the command built is clients/go/cmd/device-api-k8s-bridge.
# Debian 12 under both stages, like the other images: one base to patch and to mirror.
ARG GO_IMAGE=golang:1.25-bookworm
ARG DEBIAN_IMAGE=debian:12-slim

FROM ${GO_IMAGE} AS build
# Modules come from the Go module proxy and are checked against go.sum.
ARG GOPROXY=https://proxy.golang.org,direct
# Static: the final stage carries no C library the binary could need.
ENV GOPROXY=${GOPROXY} \
    CGO_ENABLED=0
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum changes.
COPY clients/go/go.mod clients/go/go.sum ./
RUN go mod download
COPY clients/go/ ./
RUN go build -trimpath -ldflags="-s -w" -o /out/device-api-k8s-bridge ./cmd/device-api-k8s-bridge

FROM ${DEBIAN_IMAGE}
# Nothing to install: the binary is static, and the cluster CA comes with the token
# (the chart's projected volume), not from the image.
COPY --from=build /out/device-api-k8s-bridge /usr/local/bin/device-api-k8s-bridge
ARG VERSION=0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="device-api-k8s-bridge" \
      org.opencontainers.image.description="Writes the Device API's GPU health into the Kubernetes API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
USER 65534:65534
# 8083: HTTP /healthz, /readyz, /metrics (--health-probe-bind-address). The Device API itself is the
# Unix socket /var/run/nvidia-device-api/device-api.sock, mounted from the host.
EXPOSE 8083
ENTRYPOINT ["/usr/local/bin/device-api-k8s-bridge"]
