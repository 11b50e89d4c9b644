"""HyperLogLog: how many distinct readers saw a story in a day, in 16 KB (reach path).

The event endpoint folds a keyed 64-bit hash of each viewer into the story's
sketch of the day (`samembed.analytics.collect`); every flush merges the
process's sketches into the stored ones (`samembed.repositories.stats`), where
a merge is the register-wise maximum, so the stored sketch is the sketch of the
union of every process's viewers. Only registers are kept: no hash, no address.

With p = 14 (16,384 one-byte registers) the standard error is 1.04 / sqrt(m),
about 0.8 %; estimates use Ertl's improved raw estimator ("New cardinality
estimation algorithms for HyperLogLog sketches", 2017), which stays unbiased
from a handful of viewers to billions without empirical bias tables.

    >>> s = Sketch()
    >>> s.add(0x9F3A5C0E12D4B687)
    >>> s.estimate()
    1
"""

from __future__ import annotations

import math

P = 14
M = 1 << P
Q = 64 - P  # bits left for the rank
STANDARD_ERROR = 1.04 / math.sqrt(M)
# A sketch this size starts as a dict of its set registers: most stories have few
# viewers a flush interval, and a dense sketch costs 16 KB whatever it holds.
SPARSE_LIMIT = M // 16
_MASK = (1 << Q) - 1


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        before = z
        z += x * y
        y += y
        if z == before:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        before = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == before:
            return z / 3.0


def estimate_registers(registers: bytes | bytearray) -> int:
    """The estimated number of distinct hashes folded into `registers` (M bytes)."""
    counts = [0] * (Q + 2)
    for r in registers:
        counts[r] += 1
    z = M * _tau(1.0 - counts[Q + 1] / M)
    for k in range(Q, 0, -1):
        z = 0.5 * (z + counts[k])
    z += M * _sigma(counts[0] / M)
    if math.isinf(z):
        return 0
    return round(M * M / (2 * math.log(2)) / z)


def merge_registers(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """The registers of the union of two sketches (register-wise maximum)."""
    return bytes(map(max, a, b))


class Sketch:
    """One sketch in memory: sparse (index -> rank) until it fills, then M bytes."""

    __slots__ = ("_dense", "_sparse")

    def __init__(self) -> None:
        self._sparse: dict[int, int] | None = {}
        self._dense: bytearray | None = None

    def add(self, hash64: int) -> None:
        """Fold one 64-bit hash in."""
        index = hash64 >> Q
        rest = hash64 & _MASK
        rank = Q - rest.bit_length() + 1
        if self._sparse is not None:
            if rank > self._sparse.get(index, 0):
                self._sparse[index] = rank
                if len(self._sparse) > SPARSE_LIMIT:
                    self._densify()
        else:
            dense = self._densify()
            if rank > dense[index]:
                dense[index] = rank

    def _densify(self) -> bytearray:
        if self._dense is None:
            self._dense = bytearray(M)
            for index, rank in (self._sparse or {}).items():
                self._dense[index] = rank
            self._sparse = None
        return self._dense

    @property
    def nbytes(self) -> int:
        """About what it holds in memory (for the endpoint's bounds)."""
        return M if self._dense is not None else 64 * len(self._sparse or ())

    def registers(self) -> bytes:
        """The M registers, as stored."""
        return bytes(self._densify())

    def merge(self, registers: bytes | bytearray) -> None:
        """Fold another sketch's registers in."""
        dense = self._densify()
        dense[:] = merge_registers(dense, registers)

    def estimate(self) -> int:
        """The estimated number of distinct hashes added."""
        return estimate_registers(self.registers())
