#!/usr/bin/env bash
# `make serve`: one model repository, two engines. TF Serving in Docker when a
# Docker engine answers (`docker info`), else kerasforge's embedded server,
# which speaks the same REST API on the same port. Prints which it chose.
#   docker/serve.sh [--dry-run]    (--dry-run: print the command, run nothing)
# Settings come from the environment (the Makefile passes its variables).
# Both engines read the same MODEL_CONFIG (models, version policies, labels) and
# MONITORING_CONFIG (Prometheus path), with the same flags as the image's
# ENTRYPOINT; the embedded server gets MODEL_CONFIG with the container's
# /models paths rewritten to REPOSITORY, generated under SERVE_DIR (written
# even with --dry-run, so that the command it prints can be run).
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true  # bash 5.2: an "&" in a path stays an "&"
cd "$(dirname "$0")/.."

REPOSITORY="${REPOSITORY:-artifacts/models}"
HOST="${HOST:-127.0.0.1}"
REST_PORT="${REST_PORT:-8501}"
GRPC_PORT="${GRPC_PORT:-8500}"
# Without MODEL_CONFIG: the repository's own models.config (every published model and
# its labels, as the release last wrote them), else the shipped one (digits_cnn, stable).
if [ -z "${MODEL_CONFIG:-}" ]; then
  if [ -f "$REPOSITORY/models.config" ]; then
    MODEL_CONFIG="$REPOSITORY/models.config"
  else
    MODEL_CONFIG="docker/serving/models.config"
  fi
fi
MONITORING_CONFIG="${MONITORING_CONFIG:-docker/serving/monitoring.config}"
BATCHING_PARAMETERS="${BATCHING_PARAMETERS:-docker/serving/batching_parameters.txt}"
SERVE_DIR="${SERVE_DIR:-artifacts/serve}"
SERVING_IMAGE="${SERVING_IMAGE:-kerasforge-serving:0.1.0}"
KERASFORGE="${KERASFORGE:-.venv/bin/kerasforge}"
DOCKER="${DOCKER:-docker}"
# How often the server re-reads its copy of MODEL_CONFIG (--model_config_file_poll_wait_seconds),
# and how often this script re-renders that copy when MODEL_CONFIG changes (a release rewrites it).
CONFIG_POLL_SECONDS="${CONFIG_POLL_SECONDS:-30}"
CONFIG_SYNC_SECONDS="${CONFIG_SYNC_SECONDS:-2}"

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

# The last command replaces this shell, so that stopping `make serve` stops the server.
launch() {
  if [ "${1:-}" = "--dry-run" ]; then
    run "$@"
  else
    shift
    exec "$@"
  fi
}

absolute() {
  echo "$(cd "$(dirname "$1")" && pwd)/${1##*/}"
}

# MODEL_CONFIG as the embedded server must read it: base_path "/models/<name>" (where
# the container mounts the repository) becomes "<repository>/<name>".
local_model_config() {
  local repository="$1" target="$2" line
  mkdir -p "$(dirname "$target")"
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line//\"\/models\//\"$repository/}"
    printf '%s\n' "${line//\"\/models\"/\"$repository\"}"
  done <"$MODEL_CONFIG" >"$target"
}

# MODEL_CONFIG as TF Serving in the container must read it: base paths under the host's
# repository become /models/<name>, where the container mounts it.
container_model_config() {
  local repository="$1" target="$2" line
  mkdir -p "$(dirname "$target")"
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line//\""$repository"\//\"\/models\/}"  # quoted: a * or ? in the path is literal
    printf '%s\n' "${line//\""$repository"\"/\"\/models\"}"
  done <"$MODEL_CONFIG" >"$target"
}

# Render MODEL_CONFIG into target with one of the two functions above, atomically: written
# beside it, then renamed over it, so a server polling the file never reads half of one (an
# empty or cut-off config would parse, and unload models). Both engines read the copy by
# path: the embedded server from SERVE_DIR, TF Serving from SERVE_DIR mounted as /config (a
# folder, not the file: a file mount would keep the old inode after a rename).
render() {
  local how="$1" repository="$2" target="$3"
  "$how" "$repository" "$target.next"
  mv -f "$target.next" "$target"
}

# While the server runs (this script's pid, which `exec` hands to it), render the copy
# again whenever MODEL_CONFIG is newer: a release rewrites the repository's models.config,
# and the server picks the new copy up at its next poll. Ends with the server.
follow() {
  local how="$1" repository="$2" target="$3" server=$$
  (
    while sleep "$CONFIG_SYNC_SECONDS" && kill -0 "$server" 2>/dev/null; do
      if [ "$MODEL_CONFIG" -nt "$target" ]; then
        render "$how" "$repository" "$target" || true
      fi
    done
  ) </dev/null >/dev/null 2>&1 &
}

mode="${1:-}"
if [ ! -d "$REPOSITORY" ]; then
  echo "make serve: no model repository at $REPOSITORY; run 'make train' first (or set REPOSITORY=...)" >&2
  exit 1
fi
for file in "$MODEL_CONFIG" "$MONITORING_CONFIG" "$BATCHING_PARAMETERS"; do
  if [ ! -f "$file" ]; then
    echo "make serve: no file at $file; point MODEL_CONFIG, MONITORING_CONFIG or BATCHING_PARAMETERS at one" >&2
    exit 1
  fi
done
repository="$(cd "$REPOSITORY" && pwd)"
if command -v "$DOCKER" >/dev/null 2>&1 && "$DOCKER" info >/dev/null 2>&1; then
  echo "make serve: Docker engine found -> TF Serving ($SERVING_IMAGE) over $REPOSITORY with $MODEL_CONFIG"
  config_dir="$(absolute "$SERVE_DIR")/container"
  mkdir -p "$config_dir"
  render container_model_config "$repository" "$config_dir/models.config"
  # /config is this folder in the container (the image's own /config is hidden), so it
  # holds all three files the image's ENTRYPOINT names.
  cp "$MONITORING_CONFIG" "$config_dir/monitoring.config"
  cp "$BATCHING_PARAMETERS" "$config_dir/batching_parameters.txt"
  [ "$mode" = "--dry-run" ] || mkdir -p artifacts/models  # baked into the image; the mount replaces it
  [ "$mode" = "--dry-run" ] || follow container_model_config "$repository" "$config_dir/models.config"
  run "$mode" "$DOCKER" build --quiet --file docker/serving/Dockerfile --tag "$SERVING_IMAGE" .
  launch "$mode" "$DOCKER" run --rm --init --read-only --tmpfs /tmp \
    --security-opt no-new-privileges:true \
    --publish "$HOST:$GRPC_PORT:8500" --publish "$HOST:$REST_PORT:8501" \
    --mount "type=bind,source=$repository,target=/models,readonly" \
    --mount "type=bind,source=$config_dir,target=/config,readonly" \
    "$SERVING_IMAGE"
else
  config="$SERVE_DIR/models.config"
  echo "make serve: no Docker engine ('$DOCKER info' failed) -> embedded server (kerasforge serve) over $REPOSITORY with $MODEL_CONFIG (as $config)"
  render local_model_config "$repository" "$config"
  [ "$mode" = "--dry-run" ] || follow local_model_config "$repository" "$config"
  # The flags of docker/serving/Dockerfile's ENTRYPOINT, with local paths.
  launch "$mode" "$KERASFORGE" serve --model_config_file "$config" \
    --model_config_file_poll_wait_seconds "$CONFIG_POLL_SECONDS" --allow_version_labels_for_unavailable_models true \
    --file_system_poll_wait_seconds 2 --enable_batching true \
    --batching_parameters_file "$BATCHING_PARAMETERS" --monitoring_config_file "$MONITORING_CONFIG" \
    --enable_model_warmup true --host "$HOST" --rest-port "$REST_PORT" --port "$GRPC_PORT"
fi
