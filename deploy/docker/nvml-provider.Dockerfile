# syntax=docker/dockerfile:1
# nvml-provider image: Debian 12, non-root by default. Contains no NVML: libnvidia-ml.so.1
# comes from the host, either injected by the NVIDIA container runtime (NVIDIA_VISIBLE_DEVICES,
# NVIDIA_DRIVER_CAPABILITIES below) or from a driver root mounted into the container and named
# with --driver-root / NVIDIA_DRIVER_ROOT.
# Build from the repository root:
#   docker build -f deploy/docker/nvml-provider.Dockerfile \
#     --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t nvml-provider:0.1.0 .
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
ARG VERSION=0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DDEVICEAPI_BUILD_TESTS=OFF -DDEVICEAPI_BUILD_BENCHMARKS=OFF \
      -DDEVICEAPI_VERSION="${VERSION}" -DDEVICEAPI_COMMIT="${COMMIT}" \
      -DDEVICEAPI_BUILD_DATE="${BUILD_DATE}" \
 && cmake --build /build --target nvml-provider \
 && strip /build/cmd/nvml-provider/nvml-provider

FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libspdlog1.10 libfmt9 libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/cmd/nvml-provider/nvml-provider /usr/local/bin/nvml-provider
ARG VERSION=0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="nvml-provider" \
      org.opencontainers.image.description="NVML GPU health provider for the device API server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
# The NVIDIA container runtime reads these to inject the driver's NVML library and devices.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=utility
USER 65534:65534
# 8082: HTTP /metrics, /healthz, /readyz (--admin-address; the chart binds it on all
# interfaces, the binary alone on loopback).
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/nvml-provider"]
