"""Upstream Atomic Red Team tests (`pytest atomics/ --art DIR --target vagrant://default`): each Linux
test of the tree detonated on a disposable target and judged by which rules of the rule set see it
(harness/plugin/art.py). Deselected when --art is not given."""


def test_art(art_case):
    art_case.assert_detected()
