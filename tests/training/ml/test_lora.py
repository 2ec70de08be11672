"""LoRA (PEFT) for every training kind: adapters saved with the artifact, or merged on request,
and every reader of a model directory (scorer, generation) loading them."""

import json

import pytest
import torch

from tests.training.ml.conftest import run_cli
from training.ml import adapters
from training.ml.config import validate_config
from training.ml.generate import generate
from training.ml.scorer import RewardScorer

LORA = {"peft.enabled": "on", "peft.r": "4", "peft.alpha": "8", "peft.dropout": "0"}
SMALL = {"max_steps": 1, "per_device_train_batch_size": 4, "learning_rate": "1e-2"}
ONLINE = {**SMALL, "num_generations": 2, "max_completion_length": 4, "beta": "0.05"}
CASES = {
    "sft": ("policy", "conversational_file", SMALL),
    "reward": ("reward", "standard_file", SMALL),
    "dpo": ("policy", "standard_file", SMALL),
    "ppo": (
        "policy",
        "conversational_file",
        {"max_steps": 1, "rollout_batch_size": 4, "response_length": 4, "learning_rate": "1e-2"},
    ),
    "rloo": ("policy", "standard_file", ONLINE),
    "grpo": ("policy", "conversational_file", ONLINE),
}
HELLO = [{"role": "user", "content": "Hello?"}]


def _train(kind, tiny_models, tmp_path, request, **extra):
    base, data_fixture, config = CASES[kind]
    output_dir = tmp_path / f"artifact-{kind}"
    result = run_cli(
        {
            "kind": kind,
            "base_model": str(tiny_models[base]),
            "reward_model": str(tiny_models["reward"]),
            "train_file": str(request.getfixturevalue(data_fixture)),
            "output_dir": str(output_dir),
            "config": {**config, **LORA, **extra},
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir


@pytest.mark.training
@pytest.mark.slow
@pytest.mark.parametrize("kind", list(CASES))
def test_it_trains_lora_adapters_for_each_kind_and_loads_them(kind, tiny_models, tmp_path, request):
    output_dir = _train(kind, tiny_models, tmp_path, request)

    base = tiny_models[CASES[kind][0]]
    assert adapters.base_of(output_dir) == str(base)
    assert not (output_dir / "model.safetensors").exists()  # the adapters alone, not the model
    info = json.loads((output_dir / "prefapp_artifact.json").read_text())
    assert info["config"]["peft"]["enabled"] is True
    if kind == "reward":
        prompts, answers = ["Hi?", "Hi?"], ["Fine, thanks.", "Go away."]
        trained = RewardScorer(output_dir).score(prompts, answers)
        assert trained != RewardScorer(base).score(prompts, answers)  # adapters + head loaded
    else:
        tuned = adapters.load_policy(output_dir)
        plain = adapters.load_policy(base)
        changed = any(
            not torch.equal(a, b)
            for a, b in zip(tuned.state_dict().values(), plain.state_dict().values(), strict=True)
        )
        assert changed  # the merged adapters moved the weights
        assert isinstance(generate(output_dir, HELLO, max_new_tokens=4, seed=0), str)


@pytest.mark.training
def test_it_merges_the_adapters_on_save_when_asked(tiny_models, tmp_path, request):
    output_dir = _train("dpo", tiny_models, tmp_path, request, **{"peft.merge_on_save": "on"})

    assert not adapters.is_adapter(output_dir)
    assert (output_dir / "model.safetensors").is_file()
    assert isinstance(generate(output_dir, HELLO, max_new_tokens=4, seed=0), str)


@pytest.mark.training
def test_it_gives_dpo_the_adapter_disabled_model_as_reference(tiny_models, standard_file, tmp_path):
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    from training.ml.data import load_preference_dataset
    from training.ml.trl_adapter import EventCallback, build_trainer, load_tokenizer, trl_arguments

    config = validate_config("dpo", {**SMALL, **LORA})
    tokenizer = load_tokenizer(str(tiny_models["policy"]))
    trainer = build_trainer(
        DPOTrainer,
        trl_arguments(DPOConfig, config, str(tmp_path / "out"), has_eval=False),
        config,
        str(tiny_models["policy"]),
        tokenizer,
        EventCallback(),
        train_dataset=load_preference_dataset(str(standard_file), use_margin=False),
    )

    assert isinstance(trainer.model, PeftModel)
    assert trainer.ref_model is None  # no second copy of the weights


def test_it_takes_a_lora_policys_reference_from_the_base_weights(tiny_models):
    from peft import LoraConfig, get_peft_model

    from training.ml.ppo import reference_logits
    from training.ml.ppo_rollout import PolicyWithValueHead, Rollout

    plain = adapters.load_policy(tiny_models["policy"])
    lora = LoraConfig(r=2, target_modules="all-linear", init_lora_weights=False)
    policy = get_peft_model(adapters.load_policy(tiny_models["policy"]), lora)
    ids = torch.tensor([[1, 5, 6, 7]])
    rollout = Rollout(ids, torch.ones_like(ids), 2, ids[:, 2:], *([torch.zeros(1)] * 4))
    model = PolicyWithValueHead(policy)

    with torch.no_grad():
        reference = reference_logits(model, None, rollout)
        expected = plain(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        adapted, _ = model(ids, torch.ones_like(ids))
    assert torch.allclose(reference, expected, atol=1e-5)
    assert not torch.allclose(adapted, expected, atol=1e-3)  # the adapters do change the policy
