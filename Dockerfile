# syntax=docker/dockerfile:1
#
# zoneshift's image: one static binary on distroless/static, run as a non-root user.
#
#   docker build -t zoneshift:0.1.0 .
#
# Why a static musl binary on distroless/static rather than glibc on distroless/cc:
# - The final image holds no libc at all: the binary, CA certificates, /etc/passwd and tzdata.
#   There is no glibc to patch, and no glibc version that must match between the build stage
#   and the runtime image.
# - musl's allocator is slower than glibc's under many threads. zoneshift makes a few Route 53
#   requests per second (the account's budget) and reconciles a handful of resources, so it does
#   not show; if it ever did, the remedy is an allocator crate, not glibc.
# - The TLS crypto is aws-lc, written in C. Alpine's toolchain is musl-native, so it builds with
#   the system compiler, with no cross musl-gcc wrapper and no missing kernel headers.
# The build stage fails if the binary needs any shared library.

# The toolchain the project is built and tested with (Cargo.toml's rust-version is the floor).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
# A failing command inside a pipe fails the step.
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
# A C toolchain, cmake and perl for aws-lc-sys. Alpine's mirrors keep only the current
# version of a package, so pinning one would break the build when it is replaced.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base cmake perl
WORKDIR /src
# Everything Cargo.toml names: the library and binary sources, and the bench target.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Keep symbol names for backtraces, drop the debug info.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
# Cache mounts keep the registry and the build between builds (BuildKit); the binary is copied
# out of the cached target directory, which does not persist into the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin zoneshift \
 && cp target/release/zoneshift /zoneshift \
 && if readelf -d /zoneshift | grep -q NEEDED; then echo "zoneshift is not static" >&2; exit 1; fi \
 && /zoneshift --version

# distroless/static's nonroot variant: uid and gid 65532, the ones the chart and deploy/ run as.
# Pin it by digest in release builds.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="zoneshift" \
      org.opencontainers.image.description="A Kubernetes operator that moves a live domain to Amazon Route 53 without losing a user" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /zoneshift /usr/local/bin/zoneshift
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/zoneshift"]
CMD ["run"]
