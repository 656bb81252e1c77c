"""Where weights come from: built-in packages, GGUF files, Ollama's store, Hugging Face, remote servers."""

from kollama.models.reference import ModelRef, resolve

__all__ = ["ModelRef", "resolve"]
