"""Log-likelihood evaluation: `kollama eval` (benchmarks as tasks), `kollama score` (sentence
probabilities, perplexity) and `kollama tokens` (token counts and context budgets)."""
