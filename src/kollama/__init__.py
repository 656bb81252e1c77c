"""kollama: a Korean-first workbench for local Llama-family models."""

__version__ = "0.1.0"
