import sys
from pathlib import Path

# Test helpers that are not test modules (e.g. tests/registry/acceptance.py) import by name.
for sub in ("registry", "support"):
    sys.path.insert(0, str(Path(__file__).parent / sub))
