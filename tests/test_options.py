"""Options are validated dataclasses with their defaults written once, whoever builds them."""

from __future__ import annotations

import inspect

import pytest

from kollama.compare.options import CompareOptions
from kollama.engines.base import LIMITS, GenerationParams
from kollama.errors import KollamaError
from kollama.korean.lock import LockMode


@pytest.mark.parametrize("field,bad", [("temperature", -0.1), ("temperature", 5.5), ("top_p", 0.0), ("top_p", 1.5),
                                       ("top_k", -1), ("max_tokens", 0), ("top_logprobs", 21), ("repeat_penalty", -1)])
def test_generation_params_reject_values_out_of_range(field, bad):
    with pytest.raises(KollamaError, match=field.replace("_", "-")):
        GenerationParams(**{field: bad})


def test_generation_params_parse_the_lock_and_check_the_language():
    assert GenerationParams(lock="gated").lock == LockMode.gated
    with pytest.raises(KollamaError):
        GenerationParams(lock="loose")
    with pytest.raises(KollamaError):
        GenerationParams(lang="xx")
    low, high = LIMITS["temperature"]
    assert GenerationParams(temperature=high).temperature == high and GenerationParams(temperature=low)


@pytest.mark.parametrize("kwargs,message", [({"trials": 0}, "--trials"), ({"parallel": 0}, "--parallel"),
                                            ({"parallel": 65}, "--parallel"), ({"temperature": -1}, "--temperature"),
                                            ({"models": ["a", "a"]}, "twice"), ({"models": []}, "no models")])
def test_compare_options_validate_themselves(kwargs, message):
    with pytest.raises(KollamaError, match=message):
        CompareOptions(**{"models": ["smollm2"], **kwargs})


def test_the_clis_read_their_defaults_from_the_dataclasses():
    from kollama.cli import run
    from kollama.compare.cli import compare

    run_defaults = {name: p.default for name, p in inspect.signature(run).parameters.items()}
    assert run_defaults["temperature"] == GenerationParams().temperature
    assert run_defaults["max_tokens"] == GenerationParams().max_tokens
    compare_defaults = {name: p.default for name, p in inspect.signature(compare).parameters.items()}
    options = CompareOptions(models=["x"])
    for name in ("suite", "trials", "temperature", "seed", "max_tokens", "parallel", "out", "reference_model"):
        assert compare_defaults[name] == getattr(options, name), name


def test_dpo_defaults_live_in_the_library_not_only_in_the_cli():
    """Calling run_dpo from Python without settings trains with DPO's defaults, not SFT's."""
    from kollama.tune.cli import dpo_cmd, orpo_cmd
    from kollama.tune.dpo import run_dpo
    from kollama.tune.trainer import TrainSettings, preference_settings

    assert inspect.signature(run_dpo).parameters["settings"].default is None
    dpo, sft = preference_settings("dpo"), TrainSettings()
    assert (dpo.lr, dpo.epochs, dpo.eval_split) != (sft.lr, sft.epochs, sft.eval_split)
    for command, objective in ((dpo_cmd, "dpo"), (orpo_cmd, "orpo")):
        defaults = {name: p.default for name, p in inspect.signature(command).parameters.items()}
        settings = preference_settings(objective)
        for name in ("beta", "epochs", "lr", "batch_size", "max_len", "save_every"):
            assert defaults[name] == getattr(settings, name), (objective, name)
    assert preference_settings("dpo", lr=5e-5, max_steps=None).lr == 5e-5
