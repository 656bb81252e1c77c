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
