"""What a finished run's model directory is: a policy or a reward model, and the file that says so.

Next to the weights, `python -m training.ml` writes `ARTIFACT_FILE`: {"kind": "policy"|"reward",
"run_kind", "base_model", "metrics", "config"}. The worker reads its metrics, the scorer the
max_length a reward model was trained with, the database stores the kind (ModelArtifact.Kind).
Pure Python: Django imports this module.
"""

ARTIFACT_FILE = "prefapp_artifact.json"

POLICY = "policy"
REWARD = "reward"
ARTIFACT_KINDS = (POLICY, REWARD)

# Run kinds whose artifact is a reward model; every other kind produces a policy.
_REWARD_RUN_KINDS = frozenset({"reward"})


def artifact_kind(run_kind: str) -> str:
    """The kind of model a run of `run_kind` produces."""
    return REWARD if run_kind in _REWARD_RUN_KINDS else POLICY
