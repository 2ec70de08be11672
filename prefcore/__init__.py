"""Rules both sides of prefapp share: plain Python, importing neither Django nor torch.

`labeling/` (which never imports `training/`) and `training/ml/` (which never imports Django)
both import from here, so a rule they must agree on has one home.
"""
