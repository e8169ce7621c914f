# syntax=docker/dockerfile:1
# device-api-server image: Debian 12, non-root (65534), read-only root filesystem friendly.
# Build from the repository root:
#   docker build -f deploy/docker/device-api-server.Dockerfile \
#     --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t device-api-server:0.1.0 .
# A test (test/e2e/deploy) checks that every COPY source exists in the tree or is produced by
# the build at that path, that every apt package exists in Debian 12, and that the runtime
# packages are exactly those providing the libraries the binary links.
ARG DEBIAN_IMAGE=debian:12-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libspdlog-dev libcli11-dev nlohmann-json3-dev libssl-dev libsqlite3-dev \
      libyaml-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY api/ api/
COPY include/ include/
COPY src/ src/
COPY cmd/ cmd/
COPY tools/ tools/
# Version facts for --version and device_apiserver_build_info (the build context has no .git).
ARG VERSION=0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DDEVICEAPI_BUILD_TESTS=OFF -DDEVICEAPI_BUILD_BENCHMARKS=OFF \
      -DDEVICEAPI_VERSION="${VERSION}" -DDEVICEAPI_COMMIT="${COMMIT}" \
      -DDEVICEAPI_BUILD_DATE="${BUILD_DATE}" \
 && cmake --build /build --target device-api-server \
 && strip /build/cmd/device-api-server/device-api-server

FROM ${DEBIAN_IMAGE}
# Only the shared libraries the binary links (ldd), nothing else: no shell tools are added.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libspdlog1.10 libfmt9 libssl3 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/cmd/device-api-server/device-api-server /usr/local/bin/device-api-server
ARG VERSION=0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="device-api-server" \
      org.opencontainers.image.description="Node-local GPU device API server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
# nobody:nogroup. The socket directory comes from a volume (hostPath in Kubernetes), so the
# root filesystem can be mounted read-only.
USER 65534:65534
# 50051: gRPC health (probes); 9090: HTTP /metrics, /healthz, /readyz, /version.
# The API itself is the Unix socket /var/run/nvidia-device-api/device-api.sock.
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/device-api-server"]
