"""kollama: a Korean-first workbench for local Llama-family models."""

import os

# llama.cpp's CPU threads are an OpenMP team (libgomp), which reads its idle policy once, when it is first
# loaded: often inside a model plugin's `import llama_cpp`, so it is set here, before anything else. Idle team
# threads spin a little between the barriers of one decode step, then sleep: fast alone, and polite when other
# work shares the cores (docs/benchmarks.md, "OpenMP idle policy"). A user's own OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins.
OPENMP_SPIN_COUNT = "500"
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT

__version__ = "0.1.0"
