# syntax=docker/dockerfile:1

# portcullis serve in a container: a static binary of ./cmd/portcullis (no
# cgo: every store driver, SQLite's included, is pure Go) on a distroless
# base that holds CA certificates and time zones but no shell, run as a
# non-root user. compose.yaml runs it beside PostgreSQL and Redis.
#
#   docker build -t portcullis .
#   docker run --rm -p 8080:8080 -e PORTCULLIS_STORE='postgres://…' portcullis --issuer https://auth.example.com
#
# e2e/docker_test.go builds the binary with this file's ENV and go build
# lines and checks that it is static: keep them plain (no shell variables).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/root/.cache/go-build go build -trimpath -ldflags="-s -w" -o /out/portcullis ./cmd/portcullis

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portcullis /usr/local/bin/portcullis
# distroless' "nonroot", by number, so that Kubernetes' runAsNonRoot can
# check it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portcullis", "serve"]
