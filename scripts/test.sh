#!/usr/bin/env bash
# The whole test suite with its quality gates: installs what it needs, then ruff, mypy, bandit,
# pytest (unit, Django on PostgreSQL, Celery on Redis, Chromium browser tests) and coverage floors.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

# Debian packages the tests drive: Chromium for the browser tests, etcd for the PipesHub etcd
# store tests (they start their own server on a free port).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v etcd >/dev/null || missing+=(etcd-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash scripts/install.sh
bash scripts/services.sh

export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
mkdir -p artifacts

echo "== ruff check";        "$VENV/bin/ruff" check .
echo "== ruff format";       "$VENV/bin/ruff" format --check .
echo "== mypy (strict on optimization/)"; "$VENV/bin/mypy"
echo "== bandit";            "$VENV/bin/bandit" -q -c pyproject.toml -r optimization llmopt_admin

echo "== pytest"
set +e
"$VENV/bin/python" -m pytest --cov --cov-report=term --cov-fail-under=85 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

# PipesHub pins older langchain-anthropic/langchain-core (and through them anthropic 0.x) than
# this project installs: the package's own tests run against those pins too.
PINS_VENV=${PINS_VENV:-.venv-pipeshub-pins}
if [ ! -x "$PINS_VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$PINS_VENV"
fi
pins_stamp="$PINS_VENV/.installed"
if [ ! -f "$pins_stamp" ] || [ pyproject.toml -nt "$pins_stamp" ] || [ tests/pins/pipeshub.txt -nt "$pins_stamp" ]; then
  echo "== installing the package with PipesHub's LangChain pins into $PINS_VENV"
  "$PINS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e ".[providers,test]" -c tests/pins/pipeshub.txt
  touch "$pins_stamp"
fi
echo "== pytest optimization/ on PipesHub's pins ($("$PINS_VENV/bin/python" -m pip list 2>/dev/null | grep -E '^langchain-anthropic ' | tr -s ' '))"
# The serialization snapshot is that of the newest langchain-anthropic; the stores need no LangChain.
"$PINS_VENV/bin/python" -m pytest -p no:django -p no:cacheprovider -q tests/optimization \
  --ignore=tests/optimization/stores \
  --deselect tests/optimization/test_langchain_standard.py::TestOptimizedLLMWrapperStandard::test_serdes

echo "== coverage floor on optimization/ (90%)"
total=$("$VENV/bin/coverage" report --include='optimization/*' --format=total)
echo "optimization/ coverage: $total%"
"$VENV/bin/coverage" report --include='optimization/*' --fail-under=90 >/dev/null || {
  echo "optimization/ coverage $total% is below its 90% floor" >&2
  exit 1
}
