"""Every quantitative claim of the book, on the recorded paper-scale tables: it holds, and each
wrong theory named with it is rejected by the same test (deepgep.support.claims)."""

from __future__ import annotations

import pytest

from deepgep.cli.claims import all_verdicts

pytestmark = pytest.mark.claims
VERDICTS = all_verdicts()


def test_every_chapter_with_claims_has_at_least_three():
    chapters = {v["chapter"] for v in VERDICTS}
    assert chapters
    for chapter in chapters:
        assert sum(v["chapter"] == chapter for v in VERDICTS) >= 3, chapter


@pytest.mark.parametrize("verdict", VERDICTS, ids=[f"ch{v['chapter']}-{v['name']}" for v in VERDICTS])
def test_claim_holds_and_rejects_its_wrong_theories(verdict):
    assert verdict["holds"], (verdict["statement"], verdict["detail"])
    assert verdict["perturbations"], "a claim must name at least one wrong theory it rejects"
    for p in verdict["perturbations"]:
        assert not p["holds"], f"the wrong theory '{p['name']}' also passes: {verdict['statement']}"
