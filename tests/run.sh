#!/usr/bin/env bash
# The test command (README.md): installs what the tests need (idempotently), then lint, types,
# import layering, and the whole pytest suite. Extra arguments go to pytest (e.g. tests/unit -x).
# Exits non-zero on any failure, including "no tests collected".
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "tests/run.sh: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
  step "system packages (deploy/install.sh --deps-only)"
  bash deploy/install.sh --deps-only || fail "installing system packages failed"
else
  echo "tests/run.sh: not root: system packages not checked; root-only tests will be skipped"
fi

step "python environment (.venv, editable install with test extras)"
[ -x .venv/bin/python ] || "$python" -m venv .venv || fail "cannot create .venv"
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1
.venv/bin/pip install -q -e ".[test,etcd]" || fail "pip install -e .[test,etcd] failed"
export PATH="$repo/.venv/bin:$PATH"

# Static tools see the package as it installs: the folders mapped into one `kubelite` tree.
tree="$repo/build/typecheck"
rm -rf "$tree"; mkdir -p "$tree/kubelite"
for entry in kubelite/*; do
  case "$entry" in *__pycache__*) continue ;; esac
  ln -s "$repo/$entry" "$tree/kubelite/$(basename "$entry")"
done
for part in controlplane agent cri cni native; do ln -s "$repo/$part" "$tree/kubelite/$part"; done

status=0
step "ruff (lint)"
ruff check . || status=1

step "mypy (types, strict, on the kubelite package)"
(cd "$tree" && MYPYPATH="$tree" mypy --config-file "$repo/pyproject.toml" -p kubelite) || status=1

step "import-linter (layering contracts in pyproject.toml)"
(cd "$tree" && PYTHONPATH="$tree" lint-imports --config "$repo/pyproject.toml" --no-cache) || status=1

step "pytest"
python -m pytest -p no:cacheprovider "${@:-tests}"
rc=$?
if [ $rc -eq 5 ]; then
  echo "tests/run.sh: pytest collected no tests: that is a failure" >&2
  rc=1
fi
[ $rc -eq 0 ] || status=1

if [ $status -ne 0 ]; then
  echo "tests/run.sh: FAILED (see the sections above)" >&2
fi
exit $status
