"""Everything that touches llama-cpp-python lives here: loading (whole or vocab-only), the tokenizer
and its BOS rule, decode contexts, the sampler (lock hook, grammar, log-probabilities), the
scheduler (the one decode path) and the log-likelihood scorer."""

from kollama.engines.llamacpp.engine import LlamaCppEngine, masks_for
from kollama.engines.llamacpp.model import load_llama, quiet_stderr
from kollama.engines.llamacpp.scorer import LlamaCppScorer
from kollama.engines.llamacpp.tokenizer import Tokenizer

__all__ = ["LlamaCppEngine", "LlamaCppScorer", "Tokenizer", "load_llama", "masks_for", "quiet_stderr"]
