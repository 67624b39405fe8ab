"""Every quantitative claim of the book, on the recorded paper-scale tables: it holds, each wrong
theory named with it is rejected by the same test, and its resolution is reported
(deepgep.support.claims). Identities (checks that hold by construction) are tested too, but are
not evidence: they need no wrong theory and are not counted among a chapter's claims."""

from __future__ import annotations

import pytest

from deepgep.cli.claims import all_verdicts

pytestmark = pytest.mark.claims
VERDICTS = all_verdicts()
CLAIMS = [v for v in VERDICTS if v["kind"] == "claim"]
IDENTITIES = [v for v in VERDICTS if v["kind"] == "identity"]


def test_every_chapter_with_claims_has_at_least_three():
    chapters = {v["chapter"] for v in CLAIMS}
    assert chapters
    for chapter in chapters:
        assert sum(v["chapter"] == chapter for v in CLAIMS) >= 3, chapter


@pytest.mark.parametrize("verdict", CLAIMS, ids=[f"ch{v['chapter']}-{v['name']}" for v in CLAIMS])
def test_claim_holds_and_rejects_its_wrong_theories(verdict):
    assert verdict["holds"], (verdict["statement"], verdict["detail"])
    assert verdict["perturbations"], "a claim must name at least one wrong theory it rejects"
    for p in verdict["perturbations"]:
        assert not p["holds"], f"the wrong theory '{p['name']}' also passes: {verdict['statement']}"
    for r in verdict["resolution"]:
        assert (r["lower"] is None or r["lower"] < 0) and (r["upper"] is None or r["upper"] > 0)


@pytest.mark.parametrize("verdict", IDENTITIES, ids=[f"ch{v['chapter']}-{v['name']}" for v in IDENTITIES])
def test_identity_holds(verdict):
    assert verdict["holds"], (verdict["statement"], verdict["detail"])
