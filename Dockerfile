# Outpost's image: outpost-coordinator, outpost-worker, outpost (the CLI)
# and outpost-sim (device simulators) on Debian bookworm, as user outpost
# (uid 10001). nats-server is not in it: docker-compose.yml runs the
# official nats image.
#
#   docker build -t outpost .                 # the runtime image
#   docker build --target sim -t outpost-sim . # plus socat, for simulated devices
#
# Plain Dockerfile syntax: builds with BuildKit and with the classic builder.

# ---- build ------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
# The worker and outpost-sim link OpenSSL (legacy TLS of old iDRACs).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      --bin outpost-coordinator --bin outpost-worker --bin outpost --bin outpost-sim \
 && mkdir -p /out \
 && cp target/release/outpost-coordinator target/release/outpost-worker \
       target/release/outpost target/release/outpost-sim /out/

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home \
      --home-dir /var/lib/outpost --shell /usr/sbin/nologin outpost \
 && install -d -o outpost -g outpost -m 0750 /var/lib/outpost /var/lib/outpost/captures \
 && install -d -o outpost -g outpost -m 0700 /etc/outpost/nats
COPY --from=builder /out/ /usr/local/bin/
ENV HOME=/var/lib/outpost
WORKDIR /var/lib/outpost

# Simulated devices (docker-compose.yml): outpost-sim serves loopback
# addresses only, socat forwards the device's port to it
# (deploy/compose/device.sh).
FROM base AS sim
RUN apt-get update \
 && apt-get install -y --no-install-recommends socat \
 && rm -rf /var/lib/apt/lists/*
USER outpost
CMD ["outpost-sim", "--help"]

# The default target: coordinator, worker and CLI.
FROM base AS runtime
USER outpost
EXPOSE 8080
CMD ["outpost", "--help"]
