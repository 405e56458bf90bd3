"""The explanation's faithfulness (issue 14): removing the top evidence item changes the verdict in the way
the text says it would.  A real Fuser fitted on a synthetic calibration split; the check decides again
from scratch without the item and compares with what the sentence claims."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fakescope.fusion import Fuser
from fakescope.types import Evidence


@pytest.fixture(scope="module")
def fuser(synthetic_calibration) -> Fuser:
    return Fuser(["a", "b"], fpr=0.01, calibration=synthetic_calibration(), wild=None)


def _det(name: str, raw: float) -> Evidence:
    p = float(1 / (1 + np.exp(-raw)))
    return Evidence(source=name, kind="detector", score=p, summary=f"{name} scores {p:.2f}", weight="pixel")


def _claim(text: str) -> tuple[str, str, bool]:
    """(the item's source, the label the text says the verdict would have without it, whether it says the
    label changes)."""
    m = re.search(r"What would change it: (?:the label rests on more than one item: )?without (\S+)'s "
                  r"(?:provenance|score) \(the weightiest evidence\) (?:the label would be|it would stay) "
                  r"(ai-generated|real|inconclusive)", text)
    assert m, text
    return m.group(1), m.group(2), "would be" in m.group(0)


PROVENANCE = Evidence(source="c2pa", kind="provenance", score=0.99, weight="strong",
                      summary="a valid C2PA manifest from a trusted signer declares a generative AI action")


@pytest.mark.parametrize("items,raw", [
    (["a", "b"], {"a": 6.0, "b": 3.0}),     # both detectors say AI: the label survives losing the top one
    (["a", "b"], {"a": 6.0, "b": -2.5}),    # only the top detector says AI
    (["a", "b"], {"a": -6.0, "b": -3.0}),   # both say real
    (["a", "b"], {"a": 0.3, "b": -0.2}),    # undecided
    (["c2pa", "a", "b"], {"a": -6.0, "b": -3.0}),  # provenance decides against the pixels
])
def test_removing_the_top_item_changes_the_verdict_as_the_text_says(fuser: Fuser, items, raw):
    evidence = [PROVENANCE if s == "c2pa" else _det(s, raw[s]) for s in items]
    d = fuser.decide(evidence, raw)
    source, claimed, changes = _claim(d.explanation)
    top = fuser.top_item(evidence, raw)
    assert top is not None and top.source == source
    # decide again from scratch, the top item (and its raw score) removed
    rest = [e for e in evidence if e is not top]
    again = fuser.decide(rest, {k: v for k, v in raw.items() if k != source})
    assert again.label == claimed
    assert changes == (again.label != d.label)
    if source == "c2pa":
        assert d.label == "ai-generated" and again.label == "real"


def test_a_label_resting_on_one_item_says_so(fuser: Fuser):
    raw = {"a": 6.0, "b": -2.0}
    d = fuser.decide([_det("a", 6.0), _det("b", -2.0)], raw)
    _, claimed, changes = _claim(d.explanation)
    assert d.label == "ai-generated" and changes and claimed == "real"


def test_no_evidence_no_counterfactual(fuser: Fuser):
    d = fuser.decide([], {})
    assert d.label == "inconclusive" and "What would change it" not in d.explanation
