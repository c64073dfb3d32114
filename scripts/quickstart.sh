#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running ucloud:
# installs the packages, builds ucloud, puts `ucloud` on PATH and runs `ucloud up`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
ln -sf "$PWD/bin/ucloud" /usr/local/bin/ucloud
echo "quickstart: ucloud is on PATH as $(command -v ucloud); starting it (Ctrl-C stops the daemons)" >&2
exec ucloud up "$@"
