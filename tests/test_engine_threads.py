"""llama.cpp's OpenMP threads sleep when idle unless the user chose otherwise (see engines/llamacpp)."""

import os
import subprocess
import sys


def _policy_after_import(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    code = "import os, kollama.engines.llamacpp, llama_cpp; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_idle_threads_sleep_by_default():
    assert _policy_after_import(None) == "passive"


def test_a_users_own_policy_is_kept():
    assert _policy_after_import("active") == "active"


def test_kollama_threads_sets_llama_cpp_threads_and_rejects_nonsense(monkeypatch):
    import pytest

    from kollama.engines.llamacpp.model import default_threads
    from kollama.errors import KollamaError

    monkeypatch.delenv("KOLLAMA_THREADS", raising=False)
    assert default_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("KOLLAMA_THREADS", "1")
    assert default_threads() == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("KOLLAMA_THREADS", bad)
        with pytest.raises(KollamaError, match="KOLLAMA_THREADS"):
            default_threads()


def test_a_loaded_model_uses_the_threads_asked_for(monkeypatch):
    from kollama.engines import load_engine

    monkeypatch.setenv("KOLLAMA_THREADS", "1")
    engine = load_engine("smollm2", n_ctx=256)
    try:
        assert engine.llm.context_params.n_threads == 1 and engine.llm.context_params.n_threads_batch == 1
    finally:
        engine.close()
