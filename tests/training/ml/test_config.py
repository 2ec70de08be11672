import subprocess
import sys

import pytest

from tests.training.ml.conftest import REPO_ROOT
from training.ml.config import (
    CONFIG_CLASSES,
    KINDS,
    ConfigError,
    DPORunConfig,
    PeftConfig,
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
        ("dpo", {"rpo_alpha": -0.5}, "rpo_alpha"),
        ("dpo", {"rpo_alpha": 11}, "rpo_alpha"),
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
    assert [name for name, _ in excinfo.value.problems] == [field]


@pytest.mark.parametrize(
    "values, field, message",
    [
        # as a form posts them
        ({"max_steps": "many"}, "max_steps", "expected an integer, got 'many'"),
        ({"learning_rate": "fast"}, "learning_rate", "expected a number, got 'fast'"),
        ({"learning_rate": "nan"}, "learning_rate", "expected a finite number, got 'nan'"),
        ({"max_steps": "-5"}, "max_steps", "must be >= -1, got -5"),
        ({"per_device_train_batch_size": ""}, "per_device_train_batch_size", "a value is required"),
        ({"precompute_ref_log_probs": "perhaps"}, "precompute_ref_log_probs", "expected true or"),
        ({"loss_type": "kto"}, "loss_type", "must be one of 'sigmoid', 'ipo', 'hinge' or 'robust'"),
        # as --set passes them (parse_set_options keeps the text after "=")
        ({"beta": " 0 "}, "beta", "must be > 0.0, got 0"),
        ({"label_smoothing": "0.5", "loss_type": "robust"}, "label_smoothing", "must be < 0.5"),
        # as a stored run's JSON holds them
        ({"beta": None}, "beta", "a value is required"),
        ({"max_length": 7}, "max_length", "must be >= 8, got 7"),
        ({"max_steps": 2.5}, "max_steps", "expected an integer, got 2.5"),
        ({"beta": True}, "beta", "expected a number, got True"),
        ({"beta": [0.1]}, "beta", "expected a number, got [0.1]"),
        ({"betta": 0.1}, "betta", "unknown field for kind 'dpo'"),
    ],
)
def test_it_words_each_refusal_for_the_field(values, field, message):
    with pytest.raises(ConfigError) as excinfo:
        validate_config("dpo", values)
    [(name, text)] = excinfo.value.problems
    assert name == field and text.startswith(message)
    assert str(excinfo.value) == f"{name}: {text}"


def test_it_reports_every_bad_field_at_once():
    with pytest.raises(ConfigError) as excinfo:
        validate_config("dpo", {"beta": "x", "max_steps": "y", "nope": 1})
    assert [name for name, _ in excinfo.value.problems] == ["max_steps", "beta", "nope"]
    assert str(excinfo.value).startswith("max_steps: expected an integer, got 'y'; beta: ")


def test_it_refuses_a_config_that_is_not_an_object():
    with pytest.raises(ConfigError, match="^config: expected an object"):
        validate_config("sft", ["max_steps", 2])  # type: ignore[arg-type]


def test_it_reads_empty_and_null_as_none_only_where_a_field_allows_it():
    for empty in ("", " ", "none", "null", None):
        config = validate_config("ppo", {"total_episodes": empty, "missing_eos_penalty": empty})
        assert config.total_episodes is None and config.missing_eos_penalty is None  # type: ignore[attr-defined]
        assert validate_config("dpo", {"rpo_alpha": empty}).rpo_alpha is None  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="^max_steps: expected an integer, got 'none'"):
        validate_config("ppo", {"max_steps": "none"})


def test_it_keeps_a_validated_config_as_it_is():
    config = validate_config("dpo", {})
    with pytest.raises(ValueError):
        config.beta = 0.0  # type: ignore[misc]


def test_it_refuses_unknown_kinds():
    with pytest.raises(ConfigError, match="^kind:"):
        validate_config("kto", {})


def test_it_describes_fields_for_a_form():
    fields = {f.name: f for f in config_fields("dpo")}
    assert fields["loss_type"].choices == ("sigmoid", "ipo", "hinge", "robust")
    assert fields["loss_type"].type is str and fields["precompute_ref_log_probs"].type is bool
    assert fields["beta"].type is float and fields["beta"].default == 0.1
    assert fields["beta"].help == DPORunConfig.model_fields["beta"].description
    center = {f.name: f for f in config_fields("reward")}["center_rewards_coefficient"]
    assert center.optional and center.type is float and center.default is None
    name, type_, default, help_, choices = config_fields("ppo")[0][:5]
    assert (name, type_) == ("learning_rate", float)


@pytest.mark.parametrize("kind", KINDS)
def test_it_describes_every_field_of_every_kind(kind):
    model = CONFIG_CLASSES[kind]
    blocks = {"peft": PeftConfig} if "peft" in model.model_fields else {}
    plain = [name for name in model.model_fields if name not in blocks]
    nested = [f"{block}.{name}" for block, cls in blocks.items() for name in cls.model_fields]
    assert [f.name for f in config_fields(kind)] == plain + nested
    for cls in (model, *blocks.values()):
        for name, info in cls.model_fields.items():
            assert info.description and info.description.endswith("."), name
    assert validate_config(kind, {}) == model()


@pytest.mark.parametrize("kind", ["sft", "reward", "dpo", "ppo", "rloo", "grpo"])
def test_it_reads_the_peft_block_from_dotted_names_and_from_json(kind):
    dotted = validate_config(kind, {"peft.enabled": "on", "peft.r": "4", "peft.alpha": "8"})
    nested = validate_config(kind, {"peft": {"enabled": True, "r": 4, "alpha": 8}})

    assert dotted == nested
    assert config_to_dict(dotted)["peft"] == {
        "enabled": True,
        "r": 4,
        "alpha": 8,
        "dropout": 0.05,
        "target_modules": "all-linear",
        "merge_on_save": False,
    }
    assert validate_config(kind, {}).peft.enabled is False  # off by default


def test_it_names_each_bad_field_of_the_peft_block():
    with pytest.raises(ConfigError) as caught:
        validate_config("dpo", {"peft.r": "0", "peft.target_modules": "q proj", "peft.rank": "8"})

    assert dict(caught.value.problems) == {
        "peft.r": "must be >= 1, got 0",
        "peft.target_modules": "not a module name: 'q proj'",
        "peft.rank": "unknown field for kind 'dpo'",
    }


def test_it_parses_set_options():
    assert parse_set_options(["beta=0.1", "loss_type = ipo"]) == {
        "beta": "0.1",
        "loss_type": " ipo",
    }
    with pytest.raises(ConfigError):
        parse_set_options(["beta"])


def test_it_imports_without_torch():
    """Django imports config, artifact and events at start-up; they must not pull in torch."""
    code = (
        "import sys, training.ml.config, training.ml.artifact, training.ml.events, "
        "training.ml.run; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
