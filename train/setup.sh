#!/usr/bin/env bash
# Create train/.venv and install the pinned requirements. Safe to rerun.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
if [ ! -x "$here/.venv/bin/python" ]; then
  "$python" -m venv "$here/.venv"
fi
stamp="$here/.venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$here/.venv/bin/python" -m pip install --upgrade pip
  "$here/.venv/bin/python" -m pip install -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi
