#!/usr/bin/env bash
# `make serve`: one model repository, two engines. TF Serving in Docker when a
# Docker engine answers (`docker info`), else kerasforge's embedded server,
# which speaks the same REST API on the same port. Prints which it chose.
#   docker/serve.sh [--dry-run]    (--dry-run: print the command, run nothing)
# Settings come from the environment (the Makefile passes its variables).
set -euo pipefail
cd "$(dirname "$0")/.."

REPOSITORY="${REPOSITORY:-artifacts/models}"
HOST="${HOST:-127.0.0.1}"
REST_PORT="${REST_PORT:-8501}"
GRPC_PORT="${GRPC_PORT:-8500}"
MODEL_CONFIG="${MODEL_CONFIG:-docker/serving/models.config}"
SERVING_IMAGE="${SERVING_IMAGE:-kerasforge-serving:0.1.0}"
KERASFORGE="${KERASFORGE:-.venv/bin/kerasforge}"
DOCKER="${DOCKER:-docker}"

run() {
  if [ "${1:-}" = "--dry-run" ]; then
    shift
    printf '%s ' "$@"
    echo
  else
    shift
    "$@"
  fi
}

mode="${1:-}"
if [ ! -d "$REPOSITORY" ]; then
  echo "make serve: no model repository at $REPOSITORY; run 'make train' first (or set REPOSITORY=...)" >&2
  exit 1
fi
if command -v "$DOCKER" >/dev/null 2>&1 && "$DOCKER" info >/dev/null 2>&1; then
  echo "make serve: Docker engine found -> TF Serving ($SERVING_IMAGE) over $REPOSITORY with $MODEL_CONFIG"
  repository="$(cd "$REPOSITORY" && pwd)"
  config="$(cd "$(dirname "$MODEL_CONFIG")" && pwd)/${MODEL_CONFIG##*/}"
  [ "$mode" = "--dry-run" ] || mkdir -p artifacts/models  # baked into the image; the mount replaces it
  run "$mode" "$DOCKER" build --quiet --file docker/serving/Dockerfile --tag "$SERVING_IMAGE" .
  run "$mode" "$DOCKER" run --rm --init --read-only --tmpfs /tmp \
    --security-opt no-new-privileges:true \
    --publish "$HOST:$GRPC_PORT:8500" --publish "$HOST:$REST_PORT:8501" \
    --mount "type=bind,source=$repository,target=/models,readonly" \
    --mount "type=bind,source=$config,target=/config/models.config,readonly" \
    "$SERVING_IMAGE"
else
  echo "make serve: no Docker engine ('$DOCKER info' failed) -> embedded server (kerasforge serve) over $REPOSITORY"
  run "$mode" "$KERASFORGE" serve --repository "$REPOSITORY" --host "$HOST" --rest-port "$REST_PORT" \
    --port "$GRPC_PORT"
fi
