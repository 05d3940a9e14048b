#!/usr/bin/env bash
# Install, then run the end-to-end demo on a local Ray with the local warehouse (./rayab-warehouse).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/rayab demo "$@"
