import subprocess
import sys

import pytest

from tests.training.ml.conftest import REPO_ROOT
from training.ml.config import (
    KINDS,
    ConfigError,
    DPORunConfig,
    config_fields,
    config_to_dict,
    parse_set_options,
    validate_config,
)


def test_it_builds_defaults_for_every_kind():
    for kind in KINDS:
        config = validate_config(kind, {})
        assert config_to_dict(config) == config_to_dict(
            validate_config(kind, config_to_dict(config))
        )


def test_it_coerces_form_and_cli_strings():
    config = validate_config(
        "dpo",
        {
            "learning_rate": "1e-5",
            "max_steps": "3",
            "beta": "0.2",
            "precompute_ref_log_probs": "true",
            "loss_type": "ipo",
        },
    )
    assert isinstance(config, DPORunConfig)
    assert config.learning_rate == 1e-5 and config.max_steps == 3 and config.beta == 0.2
    assert config.precompute_ref_log_probs is True and config.loss_type == "ipo"
    assert validate_config("reward", {"use_margin": "off"}).use_margin is False
    assert (
        validate_config("reward", {"center_rewards_coefficient": ""}).center_rewards_coefficient
        is None
    )
    assert (
        validate_config(
            "ppo", {"rollout_batch_size": 8.0, "num_mini_batches": "2"}
        ).rollout_batch_size
        == 8
    )
    assert validate_config("sft", {"learning_rate": 1}).learning_rate == 1.0


@pytest.mark.parametrize(
    "kind, values, field",
    [
        ("dpo", {"betta": 0.1}, "betta"),
        ("dpo", {"beta": "abc"}, "beta"),
        ("dpo", {"beta": 0}, "beta"),
        ("dpo", {"loss_type": "kto"}, "loss_type"),
        ("dpo", {"label_smoothing": 0.1}, "label_smoothing"),  # only meaningful for robust
        ("sft", {"max_steps": "2.5"}, "max_steps"),
        ("sft", {"per_device_train_batch_size": 0}, "per_device_train_batch_size"),
        ("sft", {"per_device_train_batch_size": True}, "per_device_train_batch_size"),
        ("reward", {"use_margin": "maybe"}, "use_margin"),
        ("reward", {"learning_rate": ""}, "learning_rate"),
        ("ppo", {"gamma": 1.5}, "gamma"),
        ("ppo", {"rollout_batch_size": 10, "num_mini_batches": 3}, "num_mini_batches"),
        ("grpo", {"per_device_train_batch_size": 6, "num_generations": 4}, "num_generations"),
        ("rloo", {"num_generations": 1}, "num_generations"),
    ],
)
def test_it_refuses_bad_values_naming_the_field(kind, values, field):
    with pytest.raises(ConfigError) as excinfo:
        validate_config(kind, values)
    assert str(excinfo.value).startswith(f"{field}:")


def test_it_refuses_unknown_kinds():
    with pytest.raises(ConfigError, match="^kind:"):
        validate_config("kto", {})


def test_it_describes_fields_for_a_form():
    fields = {f.name: f for f in config_fields("dpo")}
    assert fields["loss_type"].choices == ("sigmoid", "ipo", "hinge", "robust")
    assert fields["beta"].type is float and fields["beta"].default == 0.1 and fields["beta"].help
    assert all(f.help for kind in KINDS for f in config_fields(kind))
    center = {f.name: f for f in config_fields("reward")}["center_rewards_coefficient"]
    assert center.optional and center.type is float
    name, type_, default, help_, choices = config_fields("ppo")[0][:5]
    assert (name, type_) == ("learning_rate", float)


def test_it_parses_set_options():
    assert parse_set_options(["beta=0.1", "loss_type = ipo"]) == {
        "beta": "0.1",
        "loss_type": " ipo",
    }
    with pytest.raises(ConfigError):
        parse_set_options(["beta"])


def test_it_imports_without_torch():
    """Django imports config and events at start-up; they must not pull in torch."""
    code = (
        "import sys, training.ml.config, training.ml.events, training.ml.run; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
