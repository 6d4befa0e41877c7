"""The benchmark's arithmetic: the ratio it reports and the CPU it reads."""

from __future__ import annotations

import os

from bench.run import Report, Round, median_cpu, process_cpu_seconds


def report(claims: list[float], bare: list[float]) -> Report:
    return Report(
        claims=50,
        rounds=len(claims),
        claims_per_second=claims,
        bare_per_second=bare,
        claims_cpu_ms={},
        bare_cpu_ms={},
        signal_latency_ms_p50=0,
        signal_latency_ms_p90=0,
        auto_history_events=0,
        auto_history_bytes=0,
        manual_history_events=0,
        manual_history_bytes=0,
    )


def test_the_ratio_is_the_median_of_each_pair_so_a_slowing_machine_does_not_skew_it() -> None:
    """The machine halves its speed in the middle of the second pair; the pairs still say
    0.9 (the ratio of the two medians would say 0.45)."""
    slowing = report(claims=[18.0, 9.0, 9.0], bare=[20.0, 20.0, 10.0])

    assert 0.9 == round(slowing.ratio, 6)


def test_cpu_is_read_for_a_live_process_and_missing_for_none() -> None:
    """A running process's CPU seconds are read; a process that is not there has none."""
    assert (process_cpu_seconds(os.getpid()) or 0) > 0
    assert process_cpu_seconds(None) is None


def test_median_cpu_leaves_the_server_out_when_it_could_not_be_read() -> None:
    """Rounds whose server CPU was not read give no server median, and the worker's still."""
    rounds = [Round(10.0, None, 50.0), Round(12.0, None, 70.0), Round(11.0, None, 60.0)]

    assert {"server": None, "worker": 60.0} == median_cpu(rounds)
