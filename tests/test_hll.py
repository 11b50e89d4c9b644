"""HyperLogLog reach: estimates within the stated error, merges equal to unions."""

from __future__ import annotations

import random

import pytest

from samembed.analytics.hll import STANDARD_ERROR, Sketch, estimate_registers, merge_registers


@pytest.mark.parametrize(("viewers", "tolerance"), [(10, 0), (1000, 0.01), (1_000_000, 0.02)])
def test_the_estimate_is_within_its_stated_error(viewers: int, tolerance: float) -> None:
    rng = random.Random(viewers)  # noqa: S311 - synthetic viewers, seeded to repeat
    sketch = Sketch()
    for _ in range(viewers):
        sketch.add(rng.getrandbits(64))
    assert abs(sketch.estimate() - viewers) <= tolerance * viewers
    # The documented figure: about 0.8 % standard error, so ±2 % is 2.5 sigma.
    assert round(STANDARD_ERROR, 4) == 0.0081


def test_the_same_viewer_twice_is_one_viewer() -> None:
    sketch = Sketch()
    for _ in range(1000):
        sketch.add(0x0123456789ABCDEF)
    assert sketch.estimate() == 1


def test_merging_two_processes_sketches_equals_the_sketch_of_their_union() -> None:
    rng = random.Random(7)  # noqa: S311 - synthetic viewers, seeded to repeat
    everyone = [rng.getrandbits(64) for _ in range(50_000)]
    a, b, union = Sketch(), Sketch(), Sketch()
    for i, h in enumerate(everyone):
        union.add(h)
        if i < 30_000:
            a.add(h)
        if i >= 20_000:  # 10,000 seen by both
            b.add(h)
    merged = merge_registers(a.registers(), b.registers())
    assert merged == union.registers()
    assert abs(estimate_registers(merged) - 50_000) <= 0.02 * 50_000
    a.merge(b.registers())
    assert a.registers() == union.registers()


def test_an_empty_sketch_estimates_nobody() -> None:
    assert Sketch().estimate() == 0
