"""llama.cpp's OpenMP threads spin only briefly when idle unless the user chose otherwise (see kollama/__init__)."""

import os
import subprocess
import sys


def _openmp_env_after_import(**user: str) -> tuple[str, str]:
    """(OMP_WAIT_POLICY, GOMP_SPINCOUNT) seen once a built-in model plugin has loaded llama.cpp (and libgomp)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | user
    code = ("import os, kollama.models.builtin, llama_cpp; "
            "print(os.environ.get('OMP_WAIT_POLICY', '-'), os.environ.get('GOMP_SPINCOUNT', '-'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    policy, spins = out.stdout.split()
    return policy, spins


def test_idle_threads_spin_briefly_by_default_whatever_loads_llama_cpp_first():
    from kollama import OPENMP_SPIN_COUNT

    assert _openmp_env_after_import() == ("-", OPENMP_SPIN_COUNT)


def test_a_users_own_policy_is_kept():
    assert _openmp_env_after_import(OMP_WAIT_POLICY="passive") == ("passive", "-")
    assert _openmp_env_after_import(GOMP_SPINCOUNT="10") == ("-", "10")


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
