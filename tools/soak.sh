#!/bin/sh
# make soak: 1000 consecutive :PytestRun in a headless nvim (bench/soak.py, bench/soak.lua).
# SOAK_N=50 sh tools/soak.sh for a short run. Exits non-zero on RSS growth > 5%, fd change,
# leftover processes or a wrong result.
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/soak.py
