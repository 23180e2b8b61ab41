#!/usr/bin/env bash
# The same five Autobahn|Testsuite runs as run.sh, for machines with Docker: wstest comes from the
# crossbario/autobahn-testsuite image (override with AUTOBAHN_IMAGE) instead of install.sh.
# Linux only: the containers use the host network to reach our programs on 127.0.0.1.
#
#   autobahn/docker.sh [--full|--ci|--fast] [--adapter A] [--jobs N]
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" --docker "$@"
