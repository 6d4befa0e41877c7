"""The benchmark states how far apart its pairs of rounds were, beside their median."""

from __future__ import annotations

from bench.run import results_json
from tests.unit.test_bench import report


def test_the_spread_is_the_lowest_and_highest_pair_ratio() -> None:
    """Three pairs at 0.9, 1.1 and 1.0: the median 1.0, spread 0.9 to 1.1, in run order."""
    pairs = report(claims=[9.0, 11.0, 10.0], bare=[10.0, 10.0, 10.0])

    assert ([0.9, 1.1, 1.0], (0.9, 1.1)) == (pairs.pair_ratios, pairs.ratio_spread)


def test_the_results_file_keeps_every_pair_ratio_and_the_spread() -> None:
    """latest.json carries the median, each pair's ratio and the spread."""
    document = results_json(report(claims=[8.0, 12.0], bare=[10.0, 10.0]))

    assert (1.0, [0.8, 1.2], [0.8, 1.2]) == (
        document["ratio"],
        document["pair_ratios"],
        document["ratio_spread"],
    )
