"""A run config reaches TRL's config classes field by field, by name (trl_adapter.trl_arguments)."""

import dataclasses
from typing import Literal

import pytest
import torch
from pydantic import Field
from trl import DPOConfig, GRPOConfig, RewardConfig, RLOOConfig, SFTConfig

from training.ml.config import DPORunConfig, RewardRunConfig, validate_config
from training.ml.trl_adapter import dpo_arguments, trl_arguments

TRL_CLASSES = {
    "sft": SFTConfig,
    "reward": RewardConfig,
    "dpo": DPOConfig,
    "rloo": RLOOConfig,
    "grpo": GRPOConfig,
}
CHANGED = {  # a value other than the default for fields each kind has
    "sft": {"max_length": 64, "completion_only_loss": "false"},
    "reward": {"max_length": 64, "center_rewards_coefficient": "0.01"},
    "dpo": {"beta": 0.3, "loss_type": "robust", "label_smoothing": 0.2},
    "rloo": {
        "num_generations": 2,
        "temperature": 0.5,
        "epsilon": 0.1,
        "beta": 0.2,
        "top_k": 20,
        "top_p": 0.9,
        "normalize_advantages": "true",
        "data_seed": 3,
    },
    "grpo": {
        "num_generations": 2,
        "max_completion_length": 16,
        "num_iterations": 2,
        "top_p": 0.95,
        "scale_rewards": "none",
        "loss_type": "dr_grpo",
    },
}


@pytest.mark.parametrize("kind", list(TRL_CLASSES))
def test_it_passes_every_field_by_name(kind, tmp_path):
    values = {"learning_rate": "3e-4", "max_steps": 5, "seed": 7, **CHANGED[kind]}
    config = validate_config(kind, values)

    args = trl_arguments(TRL_CLASSES[kind], config, str(tmp_path), has_eval=False)

    assert isinstance(args, TRL_CLASSES[kind])
    for name, value in config.model_dump(exclude=set(config.engine_fields)).items():
        # DPOConfig keeps loss_type as a list of losses to combine
        assert getattr(args, name) in (value, [value]), name
    assert (args.learning_rate, args.max_steps, args.seed) == (3e-4, 5, 7)


def test_it_forces_the_settings_no_manager_chooses(tmp_path):
    config = validate_config("sft", {"per_device_train_batch_size": 2})

    args = trl_arguments(SFTConfig, config, str(tmp_path / "out"), has_eval=True)

    assert args.output_dir == str(tmp_path / "out")
    assert args.use_cpu is (not torch.cuda.is_available())
    assert args.per_device_eval_batch_size == 2
    assert args.report_to == [] or args.report_to == "none"
    assert (args.gradient_checkpointing, args.disable_tqdm) == (False, True)
    assert args.save_strategy == "no" and args.eval_strategy == "epoch"
    assert args.dataloader_num_workers == 0


class _DPOWithMoreOptions(DPORunConfig):
    """What adding a TRL option to the project takes: one field on the kind's model."""

    use_weighting: bool = Field(False, description="Weight the loss as in WPO.")
    truncation_mode: Literal["keep_start", "keep_end"] = Field(
        "keep_start", description="Which end of a long sequence to keep."
    )


def test_a_field_added_to_the_model_reaches_the_trl_config(tmp_path):
    config = _DPOWithMoreOptions.model_validate({"use_weighting": "on", "beta": "0.2"})
    trl_defaults = {f.name: f.default for f in dataclasses.fields(DPOConfig)}
    assert trl_defaults["use_weighting"] is False

    args = trl_arguments(DPOConfig, config, str(tmp_path), has_eval=False)

    assert args.use_weighting is True and args.beta == 0.2
    assert args.truncation_mode == "keep_start"


class _RewardWithATypo(RewardRunConfig):
    centre_rewards_coefficient: float = Field(0.01, description="Misspelt: TRL has no such field.")


def test_it_refuses_a_field_trl_would_silently_ignore(tmp_path):
    with pytest.raises(TypeError, match="RewardConfig has no field centre_rewards_coefficient"):
        trl_arguments(RewardConfig, _RewardWithATypo(), str(tmp_path), has_eval=False)


def test_it_keeps_the_fields_the_engine_reads_itself_away_from_trl(tmp_path):
    reward = validate_config("reward", {"use_margin": "off"})
    online = validate_config("grpo", {"missing_eos_penalty": "1.0", "num_generations": 2})

    reward_args = trl_arguments(RewardConfig, reward, str(tmp_path), has_eval=False)
    online_args = trl_arguments(GRPOConfig, online, str(tmp_path), has_eval=False)

    assert not hasattr(reward_args, "use_margin")
    assert not hasattr(online_args, "missing_eos_penalty")


def test_it_adds_the_chosen_answers_nll_to_dpo_as_trls_sft_loss(tmp_path):
    plain = dpo_arguments(validate_config("dpo", {}), str(tmp_path), has_eval=False)
    rpo = dpo_arguments(
        validate_config("dpo", {"rpo_alpha": "0.5", "loss_type": "ipo"}),
        str(tmp_path),
        has_eval=False,
    )

    assert (plain.loss_type, plain.loss_weights) == (["sigmoid"], None)
    assert (rpo.loss_type, rpo.loss_weights) == (["ipo", "sft"], [1.0, 0.5])
