"""prefapp's training package: plain Python + torch/transformers/TRL, no Django.

Entry point: `python -m training.ml RUN_CONFIG.json` (run.py). Django imports only the light
modules (config, artifact, events), which import neither torch nor transformers.
"""
