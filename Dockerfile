# pgpooler: a static binary on a distroless image.
#   docker build -t pgpooler .
#   docker run --rm -p 6432:6432 -v "$PWD/docker/config.toml:/etc/pgpooler/config.toml:ro" pgpooler
# or `docker compose up` (docker-compose.yml: PostgreSQL 17, pgpooler and an example app).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
	-o /out/pgpooler ./cmd/pgpooler

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pgpooler /usr/local/bin/pgpooler
# A default configuration (backend host "postgres"); mount your own over it.
COPY docker/config.toml /etc/pgpooler/config.toml
USER nonroot:nonroot
EXPOSE 6432
ENTRYPOINT ["pgpooler"]
CMD ["-config", "/etc/pgpooler/config.toml"]
