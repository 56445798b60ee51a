#!/usr/bin/env bash
# Runs the test suite under the `dev` workflow (Debug, -Werror) and the `asan` workflow
# (AddressSanitizer + UndefinedBehaviorSanitizer), then, when clang is installed, `tsan`
# (ThreadSanitizer) and `fuzz` (a short libFuzzer run of every decoder over its corpus). Each is
# configure + build + ctest (slow tests excluded); all run even if one fails; exits non-zero if
# any fails.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

bash scripts/install-deps.sh || exit 1

mkdir -p build/logs
status=0
summary=()
total_passed=0
total_failed=0
presets=(dev asan)
# ThreadSanitizer and the libFuzzer corpus run need clang (and its runtimes, which
# install-deps.sh --with-extras installs).
clang_can() {  # clang_can <sanitizer list>: does clang++ build and link with it here?
  command -v clang++ >/dev/null 2>&1 || return 1
  local probe
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }\n' \
    > "$probe/p.cc"
  [ "$1" = thread ] && printf 'int main() { return 0; }\n' > "$probe/p.cc"
  clang++ -fsanitize="$1" "$probe/p.cc" -o "$probe/p" >/dev/null 2>&1
  local ok=$?
  rm -rf "$probe"
  return $ok
}
if clang_can thread; then
  presets+=(tsan)
else
  echo "note: clang++ with -fsanitize=thread is not available; skipping the tsan preset"
  echo "      (scripts/install-deps.sh --with-extras installs it)"
fi
if clang_can fuzzer; then
  presets+=(fuzz)
else
  echo "note: clang++ with libFuzzer is not available; skipping the fuzz preset"
fi
for preset in "${presets[@]}"; do
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
  if [[ "$ctest_line" =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    total_failed=$((total_failed + BASH_REMATCH[1]))
    total_passed=$((total_passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  elif [ "$result" = FAILED ]; then
    total_failed=$((total_failed + 1))  # failed before ctest ran (configure or build)
  fi
done

echo
echo "==> summary"
for line in "${summary[@]}"; do
  echo "  $line"
done
# One closing line over every preset, in the plain "N passed, N failed" form.
echo "all presets: $total_passed passed, $total_failed failed"
exit "$status"
