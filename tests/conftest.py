"""Settings for the whole suite.

Property tests run derandomized by default (each test draws the same examples on every run, so
CI is no lottery); failures found while exploring are kept as explicit ``@example``s. Explore
with fresh random examples: ``HYPOTHESIS_PROFILE=explore python -m pytest``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
