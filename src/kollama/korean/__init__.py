"""Korean (and any-language) text analysis: scripts, fidelity, the language lock, morphology."""
