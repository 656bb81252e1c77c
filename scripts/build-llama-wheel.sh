#!/usr/bin/env bash
# Build llama-cpp-python's wheel for this CPU, once, into a wheel cache that other clones share.
#   scripts/build-llama-wheel.sh PYTHON SPEC DEST
# DEST is a folder keyed by the version spec, compiler flags, CMake options and CPU (see the Makefile):
# when it already holds a wheel, nothing is built. CMAKE_ARGS, CFLAGS and CXXFLAGS come from the caller.
# The compile prints a progress line about every 10% (a full log stays in DEST.log).
set -euo pipefail
python=$1 spec=$2 dest=$3

if compgen -G "$dest/llama_cpp_python-*.whl" >/dev/null; then
  echo "llama.cpp: using the wheel built before for this CPU ($dest)"
  exit 0
fi
mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$dest.tmp.XXXXXX")
log="$dest.log"
trap 'rm -rf "$tmp"' EXIT
echo "llama.cpp: compiling for this CPU (a few minutes on 2 cores, once; CMAKE_ARGS=${CMAKE_ARGS:-})"
start=$SECONDS
if ! "$python" -m pip wheel -v --no-cache-dir --no-deps --no-binary llama-cpp-python -w "$tmp" "$spec" 2>&1 |
    tee "$log" |
    awk '/^ *\[ *[0-9]+\/[0-9]+\]/ { p = $0; sub(/^ *\[ */, "", p); split(p, n, /[\/\]]/); p = int(100 * n[1] / n[2])
           if (int(p / 10) != last) { last = int(p / 10); printf "llama.cpp: %d%% compiled\n", p; fflush() } }
         /^ *\[ *[0-9]+%\]/ { p = $0; sub(/^ *\[ */, "", p); p = int(p)
           if (int(p / 10) != last) { last = int(p / 10); printf "llama.cpp: %d%% compiled\n", p; fflush() } }'; then
  echo "llama.cpp: the build failed; the last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
mkdir -p "$dest"
mv "$tmp"/llama_cpp_python-*.whl "$dest"/
echo "llama.cpp: compiled in $((SECONDS - start)) s"
