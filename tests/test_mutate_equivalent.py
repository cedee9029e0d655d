"""tools/mutate_equivalent.txt stays in step with the code: every mutant it excuses as equivalent
still exists (a changed or moved line leaves its entry naming nothing, and its reason unchecked)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
mutate = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("mutate", mutate)
_spec.loader.exec_module(mutate)


def test_every_equivalent_mutant_exists():
    eq = mutate._load_equivalent()
    assert len(eq) > 100 and all(why for why in eq.values())  # each with its reason
    existing = set()
    for module in sorted({key.split("|")[0] for key in eq}):
        existing |= {m.key for m in mutate.mutants(module)}
    stale = sorted(set(eq) - existing)
    assert not stale, f"entries of tools/mutate_equivalent.txt that name no mutant: {stale}"
