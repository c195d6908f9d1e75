#!/usr/bin/env bash
# Healthy when every model named in models.config has a version AVAILABLE,
# asked over TF Serving's REST model-status API (GET /v1/models/<name>). The
# serving image has no curl: bash's /dev/tcp speaks HTTP/1.0 instead.
set -euo pipefail
port="${REST_API_PORT:-8501}"
config="${MODEL_CONFIG_FILE:-/config/models.config}"
mapfile -t names < <(sed -n 's/^[[:space:]]*name:[[:space:]]*"\([^"]*\)".*/\1/p' "$config")
if [ "${#names[@]}" -eq 0 ]; then
  echo "no model name in $config" >&2
  exit 1
fi
for name in "${names[@]}"; do
  exec 3<>"/dev/tcp/127.0.0.1/${port}"
  printf 'GET /v1/models/%s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$name" >&3
  reply="$(timeout 3 cat <&3 || true)"
  exec 3<&-
  if ! grep -Eq '"state" *: *"AVAILABLE"' <<<"$reply"; then
    echo "model ${name}: no version AVAILABLE on port ${port}" >&2
    exit 1
  fi
done
