"""What a finished run's model directory is: a policy or a reward model, and the file that says so.

Next to the weights, `python -m training.ml` writes `ARTIFACT_FILE`: {"kind": "policy"|"reward",
"run_kind", "base_model", "metrics", "config"}. The worker reads its metrics, the scorer the
max_length a reward model was trained with, the database stores the kind (ModelArtifact.Kind).
A generation job's directory holds `SAMPLES_FILE` and the same file with kind "samples"; a
scoring run's, `scores.jsonl` (ml/score.py) and kind "scores";
an evaluation's, its compared samples and the same file with kind "evaluation".
Pure Python: Django imports this module.
"""

ARTIFACT_FILE = "prefapp_artifact.json"

POLICY = "policy"
REWARD = "reward"
ARTIFACT_KINDS = (POLICY, REWARD)
# What a scoring run leaves: a file of scores, not a model (no ModelArtifact).
SCORES = "scores"

# What a generation job leaves instead of a model: its samples (never a ModelArtifact).
SAMPLES = "samples"
SAMPLES_FILE = "samples.jsonl"

# Run kinds whose artifact is a reward model, those that make no model; the rest make a policy.
_REWARD_RUN_KINDS = frozenset({"reward"})
_SAMPLE_RUN_KINDS = frozenset({"generate"})
# What an evaluation leaves: its metrics and the samples it compared (never a ModelArtifact).
EVALUATION = "evaluation"
_EVALUATION_RUN_KINDS = frozenset({"evaluate"})


def artifact_kind(run_kind: str) -> str:
    """The kind of model a run of `run_kind` produces (SAMPLES: no model, answers; SCORES: no
    model, a scoring run's scores)."""
    if run_kind in _SAMPLE_RUN_KINDS:
        return SAMPLES
    if run_kind == "score":
        return SCORES
    if run_kind in _EVALUATION_RUN_KINDS:
        return EVALUATION
    return REWARD if run_kind in _REWARD_RUN_KINDS else POLICY


def makes_model(run_kind: str) -> bool:
    return artifact_kind(run_kind) in ARTIFACT_KINDS
