"""`python -m training.ml RUN_CONFIG.json` — see run.py for the contract."""

import sys

from .run import main

sys.exit(main())
