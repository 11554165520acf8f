#!/usr/bin/env bash
# `make run`: installs, prepares the embedded database and demo data, then starts the local
# simulator (Anthropic- and OpenAI-compatible), the Celery worker (with beat) and the web app on
# http://127.0.0.1:8000, and drives a demo workload through the wrapper. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
PORT=${PORT:-8000}
SIMULATOR_PORT=${SIMULATOR_PORT:-8089}

bash scripts/install.sh

# Embedded defaults: SQLite and the embedded config store under var/, the filesystem Celery
# broker, the simulator standing in for Anthropic and OpenAI. Anything already set in the environment wins.
export LLMOPT_VAR_DIR=${LLMOPT_VAR_DIR:-$PWD/var}
export ANTHROPIC_BASE_URL=${ANTHROPIC_BASE_URL:-http://127.0.0.1:$SIMULATOR_PORT}
export ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY:-sk-ant-simulator-demo}
export LLMOPT_BATCH_POLL_MAX=${LLMOPT_BATCH_POLL_MAX:-5}
export LLMOPT_BATCH_SWEEP_SECONDS=${LLMOPT_BATCH_SWEEP_SECONDS:-2}
mkdir -p "$LLMOPT_VAR_DIR/log"
LOG="$LLMOPT_VAR_DIR/log"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$PORT" "$SIMULATOR_PORT"; do
  if port_busy "$port"; then
    echo "Port $port on 127.0.0.1 is already in use; stop what runs there or set PORT/SIMULATOR_PORT." >&2
    exit 1
  fi
done

echo "== preparing the database ($LLMOPT_VAR_DIR)"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py ensure_admin
"$PY" manage.py seed_demo_config
"$PY" manage.py migrate_aiconfigs || [ $? -eq 3 ]   # 3: nothing to do
if [ ! -f "$LLMOPT_VAR_DIR/.demo-history-done" ]; then
  # Three weeks of plausible synthetic usage, so the dashboard shows what it is for; marked as
  # demo data and removed with `manage.py remove_demo_data`.
  "$PY" manage.py seed_ledger --demo --events 12000 --days 21 \
    && touch "$LLMOPT_VAR_DIR/.demo-history-done"
fi

pids=()
stop() {
  trap - EXIT INT TERM
  echo; echo "== stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Give each a moment to finish its work (the worker acknowledges nothing half done), then
  # make sure nothing outlives the script.
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

echo "== starting the simulator on 127.0.0.1:$SIMULATOR_PORT (log: $LOG/simulator.log)"
# Simulated batch time runs fast so demo batches end in seconds, not hours.
"$PY" -m optimization.simulator --host 127.0.0.1 --port "$SIMULATOR_PORT" --speed 3600 \
  >"$LOG/simulator.log" 2>&1 &
pids+=($!)

echo "== starting the Celery worker with beat (log: $LOG/worker.log)"
"$VENV/bin/celery" -A llmopt_admin worker -B --loglevel=INFO --concurrency=2 \
  >"$LOG/worker.log" 2>&1 &
pids+=($!)

echo "== starting the web app on http://127.0.0.1:$PORT (log: $LOG/web.log)"
# --preload imports the app once, before forking, so no worker makes a visitor wait for it.
"$VENV/bin/gunicorn" llmopt_admin.wsgi --preload --bind "127.0.0.1:$PORT" --workers 2 \
  --access-logfile - \
  >"$LOG/web.log" 2>&1 &
pids+=($!)

answers_http() {
  "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$1" 2>/dev/null
}
for _ in $(seq 1 120); do
  answers_http "http://127.0.0.1:$PORT/login/" && port_busy "$SIMULATOR_PORT" && break
  sleep 1
done
if ! answers_http "http://127.0.0.1:$PORT/login/"; then
  echo "The web app did not start; see $LOG/web.log" >&2
  exit 1
fi

if [ ! -f "$LLMOPT_VAR_DIR/.demo-traffic-done" ]; then
  echo "== driving a demo workload through the wrapper into the simulator"
  "$PY" manage.py demo_traffic --optimize --admin-url "http://127.0.0.1:$PORT" \
    && touch "$LLMOPT_VAR_DIR/.demo-traffic-done"
fi

cat <<MSG

  llmopt is running:   http://127.0.0.1:$PORT   (sign in as 'admin'; the password was printed above
                                                 on the first run)
  More demo traffic:   $PY manage.py demo_traffic --admin-url http://127.0.0.1:$PORT
  Remove demo history: $PY manage.py remove_demo_data
  Stop:                Ctrl-C

MSG
wait -n "${pids[@]}"
echo "A process stopped unexpectedly; see the logs in $LOG" >&2
exit 1
