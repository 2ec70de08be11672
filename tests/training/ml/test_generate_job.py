"""Generation jobs in the engine: `python -m training.ml` with kind generate samples k answers per
prompt into samples.jsonl, formatted as training formats prompts, the same for the same seed."""

import json
from pathlib import Path

import pytest

from tests.training.ml.conftest import events_of, run_cli, write_jsonl
from training.ml.config import ConfigError, GenerateRunConfig, validate_config
from training.ml.generate import generate, generate_samples

pytestmark = pytest.mark.training

PROMPTS = [
    {"prompt_id": 11, "prompt": [{"role": "user", "content": "How are you?"}]},
    {
        "prompt_id": 12,
        "prompt": [
            {"role": "system", "content": "Be polite."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    },
    {"prompt_id": 13, "prompt": [{"role": "user", "content": "Write a poem about the sea."}]},
]


def _samples(directory: Path) -> list[dict]:
    lines = (directory / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_it_samples_k_answers_per_prompt_into_the_output_dir(tiny_models, tmp_path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    output_dir = tmp_path / "samples"
    result = run_cli(
        {
            "kind": "generate",
            "base_model": str(tiny_models["policy"]),
            "train_file": str(prompts),
            "output_dir": str(output_dir),
            "config": {"k": 3, "batch_size": 2, "max_new_tokens": 6, "backend": "transformers"},
        },
        tmp_path,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    emitted = events_of(result.stdout)
    assert {"event": "start", "total_steps": 2} in emitted
    assert {"event": "progress", "step": 2, "total_steps": 2} in emitted
    assert emitted[-1]["event"] == "done"
    samples = _samples(output_dir)
    assert [(s["prompt_id"], s["index"]) for s in samples] == [
        (p, i) for p in (11, 12, 13) for i in range(3)
    ]
    assert all(isinstance(s["text"], str) and 0 <= s["tokens"] <= 6 for s in samples)
    info = json.loads((output_dir / "prefapp_artifact.json").read_text())
    assert info["kind"] == "samples" and info["run_kind"] == "generate"
    assert info["metrics"]["samples"] == 9
    assert not (tmp_path / "samples.tmp").exists()


def test_it_samples_the_same_answers_for_the_same_seed(tiny_models, tmp_path):
    prompts = str(write_jsonl(tmp_path / "prompts.jsonl", PROMPTS))
    config = GenerateRunConfig(k=2, batch_size=2, max_new_tokens=8, backend="transformers")
    model = str(tiny_models["policy"])

    generate_samples(config, model, prompts, str(tmp_path / "first"))
    generate_samples(config, model, prompts, str(tmp_path / "second"))
    other = config.model_copy(update={"seed": 1})
    generate_samples(other, model, prompts, str(tmp_path / "other"))

    assert _samples(tmp_path / "first") == _samples(tmp_path / "second")
    assert _samples(tmp_path / "first") != _samples(tmp_path / "other")


def test_it_formats_prompts_as_the_try_it_box_and_training_do(tiny_models, tmp_path):
    # Greedy answers are what the model continues: the same text means the same prompt tokens
    # (the policy's chat template with its generation prompt, through ppo_rollout.encode_prompt).
    prompts = str(write_jsonl(tmp_path / "prompts.jsonl", PROMPTS[1:2]))
    config = GenerateRunConfig(k=1, temperature=0, max_new_tokens=8, backend="transformers")
    model = str(tiny_models["policy"])

    generate_samples(config, model, prompts, str(tmp_path / "out"))

    [sample] = _samples(tmp_path / "out")
    assert sample["text"] == generate(model, PROMPTS[1]["prompt"], max_new_tokens=8, temperature=0)


def test_it_refuses_an_unknown_prompt_set_and_batches_the_import_does_not_record():
    with pytest.raises(ConfigError, match="prompt_set: expected"):
        validate_config("generate", {"prompt_set": "some"})
    with pytest.raises(ConfigError, match="prompt_set: imports record no batch"):
        validate_config("generate", {"prompt_set": "batch:3"})
    assert validate_config("generate", {"prompt_set": "prompts: 1, 2"}).prompt_set == "prompts:1,2"  # type: ignore[attr-defined]


def test_it_refuses_vllm_where_it_cannot_run(tiny_models, tmp_path):
    from training.ml.generate import vllm_usable

    if vllm_usable():
        pytest.skip("vLLM and a GPU are here")
    prompts = str(write_jsonl(tmp_path / "prompts.jsonl", PROMPTS))
    with pytest.raises(RuntimeError, match="backend vllm: needs the vllm package and a GPU"):
        generate_samples(
            GenerateRunConfig(backend="vllm"), str(tiny_models["policy"]), prompts, str(tmp_path)
        )
