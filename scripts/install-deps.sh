#!/usr/bin/env bash
# Installs brook's build dependencies on Debian/Ubuntu. Idempotent: it asks dpkg which packages are
# missing and installs only those; when nothing is missing it changes nothing (no apt-get update).
#
#   scripts/install-deps.sh               # compiler, CMake, Ninja, libraries, Catch2, benchmark
#   scripts/install-deps.sh --with-extras # also RocksDB (benchmark baseline), clang and lld
#                                         # (tsan and fuzz presets); CI passes this
#
# Runs apt-get through sudo when not root. Exits non-zero if anything fails.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config libabsl-dev libfmt-dev libxxhash-dev catch2
  libbenchmark-dev libsqlite3-dev liblz4-dev libzstd-dev zlib1g-dev libsnappy-dev)
extras=(librocksdb-dev clang lld)
# Installed with the extras when the distribution has them: Debian 12 ships clang's sanitizer and
# libFuzzer runtimes separately (only recommended by clang).
optional_extras=(libclang-rt-dev)

with_extras=0
for arg in "$@"; do
  case "$arg" in
    --with-extras) with_extras=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-deps: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: needs a Debian/Ubuntu system (dpkg, apt-get). Install these by hand:" >&2
  echo "  ${packages[*]}" >&2
  exit 1
fi

is_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

wanted=("${packages[@]}")
if ((with_extras)); then
  wanted+=("${extras[@]}")
fi

missing=()
for package in "${wanted[@]}"; do
  is_installed "$package" || missing+=("$package")
done
optional_missing=()
if ((with_extras)); then
  for package in "${optional_extras[@]}"; do
    is_installed "$package" || optional_missing+=("$package")
  done
fi

if ((${#missing[@]} == 0 && ${#optional_missing[@]} == 0)); then
  echo "install-deps: all ${#wanted[@]} packages already installed; nothing to do"
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps: missing packages (${missing[*]} ${optional_missing[*]}) and not root," \
      "and sudo is not available" >&2
    exit 1
  fi
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)

updated=0
if ((${#missing[@]} > 0)); then
  echo "install-deps: missing: ${missing[*]}"
  echo "install-deps: apt-get update"
  "${apt[@]}" update -q
  updated=1
fi
# An optional package is added only if apt knows it (refreshing the lists once if needed).
for package in "${optional_missing[@]}"; do
  if ! apt-cache show "$package" >/dev/null 2>&1 && ((!updated)); then
    echo "install-deps: apt-get update (looking for $package)"
    "${apt[@]}" update -q
    updated=1
  fi
  if apt-cache show "$package" >/dev/null 2>&1; then
    missing+=("$package")
  else
    echo "install-deps: $package is not available here; skipping it"
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing: ${missing[*]}"
  "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"
fi

still_missing=()
for package in "${missing[@]}"; do
  is_installed "$package" || still_missing+=("$package")
done
if ((${#still_missing[@]} > 0)); then
  echo "install-deps: failed to install: ${still_missing[*]}" >&2
  exit 1
fi
echo "install-deps: installed ${#missing[@]} package(s): ${missing[*]:-none}"
