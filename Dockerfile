# The operator image: `docker build -t REGISTRY/accord:0.1.0 .`
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin accord

FROM debian:bookworm-slim
RUN useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin accord
COPY --from=build /src/target/release/accord /usr/local/bin/accord
USER 65532
ENTRYPOINT ["/usr/local/bin/accord"]
CMD ["operator"]
