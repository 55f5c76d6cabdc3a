#!/usr/bin/env bash
# Set up train/.venv if needed, then run the whole pipeline (prepare -> train -> export -> evaluate ->
# model card). Extra arguments go to `python -m maskgate_train` (see --help); add --publish to copy
# the model, manifest and MODEL_CARD.md into models/.
# CPU work runs at the lowest priority with one torch thread unless MASKGATE_NICE / --threads say otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/setup.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
cd "$here"
exec nice -n "${MASKGATE_NICE:-19}" "$here/.venv/bin/python" -m maskgate_train "$@"
