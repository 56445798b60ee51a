#!/usr/bin/env bash
# Runs the test suite twice: the `dev` workflow (Debug, -Werror) and the `asan` workflow
# (AddressSanitizer + UndefinedBehaviorSanitizer), each configure + build + ctest (slow tests
# excluded). Both run even if the first fails; exits non-zero if either fails.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

bash scripts/install-deps.sh || exit 1

mkdir -p build/logs
status=0
summary=()
for preset in dev asan; do
  log="build/logs/$preset.log"
  echo
  echo "==> cmake --workflow --preset $preset"
  if cmake --workflow --preset "$preset" 2>&1 | tee "$log"; then
    result="passed"
  else
    result="FAILED"
    status=1
  fi
  ctest_line="$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1 || true)"
  summary+=("$preset: $result${ctest_line:+ ($ctest_line)}")
done

echo
echo "==> summary"
for line in "${summary[@]}"; do
  echo "  $line"
done
exit "$status"
