# syntax=docker/dockerfile:1
# aimctl operator image: `docker build -t aimctl:0.1.0 .`
# The binary embeds the default rule pack (rules/); the same files are also copied to
# /etc/aimctl/rules, the folder the Deployment in deploy/ mounts its ConfigMap over.

# ---- dependency cache: cargo-chef turns the manifests into a recipe, and the
# dependencies are built from the recipe alone, so this layer survives source edits.
FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin aimctl \
 && install -D -m 0755 target/release/aimctl /out/aimctl \
 && mkdir -p /out/rules \
 && find rules -maxdepth 1 -type f \( -name '*.rules' -o -name '*.rhai' \) -exec cp {} /out/rules/ \;

# ---- runtime: glibc + libgcc only, no shell, runs as nonroot (uid 65532)
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/aimctl /aimctl
COPY --from=builder /out/rules/ /etc/aimctl/rules/
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/aimctl"]
CMD ["operator", "--rules", "/etc/aimctl/rules"]
