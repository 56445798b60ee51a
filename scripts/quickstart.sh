#!/usr/bin/env bash
# Quick start: installs the dependencies, builds brook in Release (build/quickstart, tests off) and
# runs the quickstart example (examples/quickstart.cpp).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-deps.sh

build=build/quickstart
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DBROOK_BUILD_TESTS=OFF \
  -DBROOK_BUILD_EXAMPLES=ON
cmake --build "$build" --target example_quickstart --parallel 2

# Run in an empty directory so the example starts from nothing on every run.
rundir="$build/run"
rm -rf "$rundir"
mkdir -p "$rundir"
echo "==> running example_quickstart in $rundir"
cd "$rundir"
"$root/$build/examples/example_quickstart"
