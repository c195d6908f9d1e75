#!/usr/bin/env bash
# The monitoring loop on the bundled digits (README "Monitoring"), end to end, in a few minutes:
#   1. train v1 on the digits as the old scanners take them;
#   2. serve it with request logging on; a new scanner's (brighter) images arrive; the drift
#      report of the logged requests alerts;
#   3. turn the logged requests into a labelled data set (the labels come from the known
#      ground truth here: in real life a person fills labels.csv);
#   4. retrain on the original digits plus the labelled live ones (data.extra) -> v2;
#   5. serve v2 with logging on; every scanner's images (old and new) arrive; the report
#      of v2's logged requests clears.
# The figures go to bench/results/monitor_recipe.json. Usage: docs/monitoring_recipe.sh [WORKDIR]
set -euo pipefail
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
KF=${KERASFORGE:-.venv/bin/kerasforge}
W=$(realpath -m "${1:-artifacts/monitor_recipe}")
MODEL=digits_scanner
EPOCHS=${EPOCHS:-8}
rm -rf "$W" && mkdir -p "$W"

train() {  # train CONFIG: quiet, fast, no TFLite, no registry gate (the version is served as latest)
  "$KF" train --config "$1" --set output_dir="$W" train.epochs="$EPOCHS" export.tflite=false \
    export.model_name=$MODEL tracking.registry.enabled=false | tail -n 4
}

serve_and_send() {  # serve_and_send LOGDIR new|both: serve the latest version, log every request
  cat > "$W/models.config" <<CONFIG
model_config_list {
  config {
    name: "$MODEL" base_path: "$W/models/$MODEL" model_platform: "tensorflow"
    logging_config {
      log_collector_config { type: "tfrecord" filename_prefix: "$1/" }
      sampling_config { sampling_rate: 1.0 }
    }
  }
}
CONFIG
  local port
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$KF" serve --model_config_file "$W/models.config" --rest_api_port "$port" --port 0 \
    > "$W/serve-$(basename "$1").log" 2>&1 &
  local pid=$!
  for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/v1/models/$MODEL" | grep -q AVAILABLE && break
    sleep 1
  done
  "$PY" docs/monitoring_recipe.py traffic "$port" $MODEL "$2"
  kill -TERM "$pid" && wait "$pid" || true  # SIGTERM writes what is queued and closes the files
}

monitor() {  # monitor LOGDIR OUT [more flags]: the report; exit 3 (an alert) is expected before
  "$KF" monitor --model $MODEL --repository "$W/models" --logs "$1" --out "$2" "${@:3}" || \
    [ $? -eq 3 ]
}

echo "== 1. v1: the digits of the old scanners"
cat > "$W/v1.yaml" <<YAML
name: digits_scanner
seed: 42
data: {source: digits, batch_size: 32}
model: {name: digits_cnn}
YAML
train "$W/v1.yaml"

echo "== 2. serve v1; the new scanner's images arrive"
serve_and_send "$W/logs/v1" new
monitor "$W/logs/v1" "$W/report-v1" --to-dataset "$W/live"

echo "== 3. label the logged requests (from the ground truth, for the demo)"
"$PY" docs/monitoring_recipe.py label "$W/live"

echo "== 4. v2: the original digits plus the labelled live ones"
cat > "$W/v2.yaml" <<YAML
name: digits_scanner
seed: 42
data:
  source: digits
  batch_size: 32
  extra:
    - source: tfrecord
      file:
        path: $W/live/requests.tfrecord
        labels: $W/live/labels.csv
        spec: {pixels: {dtype: float32, shape: [8, 8, 1]}}
model: {name: digits_cnn}
YAML
train "$W/v2.yaml"

echo "== 5. serve v2; every scanner's images arrive (old and new)"
serve_and_send "$W/logs/v2" both
monitor "$W/logs/v2" "$W/report-v2"
"$PY" docs/monitoring_recipe.py figures bench/results/monitor_recipe.json \
  "v1_new_scanner=$W/report-v1" "v2_all_scanners=$W/report-v2"
