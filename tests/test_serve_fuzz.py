"""Fuzzing `kollama serve` from its own OpenAPI schema: no input makes it answer 5xx or break its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from serve_server import Server


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "fuzz.log"
    # tiny answers keep each example fast; a deep queue so the limiter does not shed the fuzzer
    with Server("--model", "smollm2", "--max-tokens", "2", "--no-log", "--max-concurrency", "2", "--queue", "64",
                log=log) as s:
        yield s


def test_no_input_breaks_the_server(fuzz_server):
    schema = schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(), real_model=st.sampled_from([None, "smollm2", "multilingual-e5-small"]))
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def fuzz(case, real_model):
            # random model names are all 404s: often name a real one so the generation paths get fuzzed too
            if real_model and isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = real_model
            # a schema cannot say "starts with %PDF-": random bytes rightly get 415, not acceptance
            excluded = [positive_data_acceptance] if case.operation.path == "/v1/rag/documents" else []
            case.call_and_validate(timeout=60, excluded_checks=excluded)

        fuzz()
        tested.append(operation.label)
    assert len(tested) >= 15, tested
    assert fuzz_server.process.poll() is None
