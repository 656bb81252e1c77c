"""Everything that touches llama-cpp-python lives here: loading (whole or vocab-only), the tokenizer
and its BOS rule, decode contexts, the sampler (lock hook, grammar, log-probabilities), the
scheduler (the one decode path) and the log-likelihood scorer."""

import os

# llama.cpp's CPU threads are an OpenMP team. libgomp's default lets idle team threads spin, and on a
# busy machine the spinners starve the threads doing the work: at load 5 on 2 cores, generation ran
# 4-6x slower than with idle threads asleep (benchmarks/generation.py --omp). It is read when libgomp
# loads, so it is set before llama_cpp is first imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from kollama.engines.llamacpp.engine import LlamaCppEngine, masks_for  # noqa: E402
from kollama.engines.llamacpp.model import load_llama, quiet_stderr  # noqa: E402
from kollama.engines.llamacpp.scorer import LlamaCppScorer, Request, Result  # noqa: E402
from kollama.engines.llamacpp.tokenizer import Tokenizer  # noqa: E402

__all__ = ["LlamaCppEngine", "LlamaCppScorer", "Request", "Result", "Tokenizer", "load_llama", "masks_for",
           "quiet_stderr"]
