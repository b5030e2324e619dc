import sys
from pathlib import Path

# Test helpers that are not test modules (e.g. tests/registry/acceptance.py) import by name.
for sub in ("registry", "support"):
    sys.path.insert(0, str(Path(__file__).parent / sub))

# The small trained job shared by the prediction-core, workflow and tracking tests.
# pytest-xdist already runs one test per core: fold fits stay serial inside each test.
import os  # noqa: E402

from cr_job import cr_job  # noqa: E402, F401  (competing risks, issue 17)
from trained_job import trained_job  # noqa: E402, F401

os.environ.setdefault("MMRISK_N_JOBS", "1")
