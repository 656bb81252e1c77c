"""The defaults of the tune commands that are not training runs (data, pairs, smooth, export, report), written
once: the library functions take them as their own defaults and the CLI's flags read them here. Nothing is
imported, so the CLI reads them at start without loading the tune libraries (numpy, gguf, the judge)."""

from __future__ import annotations

SEED = 0  # the random seed of self-instruct, of the confused copies and of the ranked samples
TEACHER_MAX_TOKENS = 256  # `tune data`: most tokens per teacher answer
PAIRS_MAX_TOKENS = 128  # `tune pairs`: most tokens of each answer a pair is built from
MIN_ROUGE = 0.3  # an answer below this ROUGE-L against the reference is a rejected one
SWAP_RATE = 0.5  # share of glossary nouns a confused copy puts in English
SAMPLES = 4  # answers sampled per prompt to rank
SAMPLE_TEMPERATURE = 1.0  # the temperature those answers are sampled at
DEFAULT_STRENGTH = 0.5  # `tune smooth`: how much the foreign tokens' output rows are scaled down
SMOOTH_CHECK = 0  # `tune smooth`: prompts answered to count foreign-script answers (0: none)
EXPORT_QUANT = "f16"
REPORT_MAX_TOKENS = 96  # `tune report`: most tokens per answer compared
PROMPT_LIMIT = 100  # `tune report --model`: first prompts of each prompt file
BAKE_IN_TEMPERATURES = (0.7, 1.0)  # `tune report --model`: the temperatures answers are sampled at (lock off)
