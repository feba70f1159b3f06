"""Random streams: one per replication and purpose, with each lead's draws tied to the lead.

Common random numbers are the point: two scenarios run on the same seed must see the same
leads and the same journeys up to their first MQL, and a different policy must not shift anyone
else's draws. So every stream is spawned from ``SeedSequence(seed)`` by a fixed key
``(replication, purpose, ...)`` — never by the order in which the run happens to ask — and every
per-lead draw either sits at the lead's row of a per-purpose array (the lead's index is its
identity) or comes from the lead's own counter-based stream (:meth:`Streams.uniforms`).
"""

from __future__ import annotations

import itertools
from enum import IntEnum
from typing import TYPE_CHECKING, cast

import numpy as np
from numpy.random import PCG64, Generator, Philox, SeedSequence

if TYPE_CHECKING:
    from numpy.random._philox import _PhiloxState  # the stubs' type of Philox.state

#: Each of the two numbers of a per-lead stream's key is below this.
KEY_LIMIT = 1 << 32

#: Leads per chunk of a sales pass's draws (:meth:`Streams.sales_rows`). Even, so that a
#: chunk starts on a whole 64-bit output of its generator; small, because few leads of a
#: database reach sales in a pass (at 100k leads, 10 % in the first, 3 % in the second), and
#: not smaller, as each chunk costs a jump (at 100k leads: 16 leads 37 ms, 32 leads 30 ms,
#: 64 leads 26 ms of sales draws, against 46 ms for whole passes).
SALES_CHUNK = 32

#: PCG64's period: a jump by ``-n`` is a jump by ``_PCG64_PERIOD - n``.
_PCG64_PERIOD = 1 << 128


class Purpose(IntEnum):
    """What a stream is for; the value is part of the spawn key, so never renumber."""

    ARRIVALS = 0
    POPULATION = 1
    JOURNEYS = 2
    TOUCHES = 3
    SALES = 4
    RECYCLED_TOUCHES = 5
    MISSING_FIELDS = 6
    STOCK = 7


class Streams:
    """The random streams of one replication of one scenario."""

    def __init__(
        self, seed: int, replication: int, drawn: dict[tuple[int, ...], np.ndarray] | None = None
    ) -> None:
        self.seed = seed
        self.replication = replication
        #: Draws kept for reuse: the sales chunks, and with a shared store (runs of this
        #: replication sharing it) the streams drawn by :meth:`uniforms` too.
        self._drawn: dict[tuple[int, ...], np.ndarray] = {} if drawn is None else drawn
        self._keep_streams = drawn is not None
        #: One Philox generator per purpose, with the state that re-keys it for each per-lead
        #: stream: a fresh stream's (counter 0, nothing buffered), whose key array's second
        #: number is set to the stream's key before each use (reusing the arrays halves the
        #: cost of starting a stream: 2.2 us against 4.0 us).
        self._keyed: dict[Purpose, tuple[Generator, _PhiloxState]] = {}
        #: Per sales pass, its generator and how many 64-bit outputs it has given.
        self._sales_at: dict[int, tuple[Generator, int]] = {}

    def generator(self, purpose: Purpose, *key: int) -> Generator:
        """A generator for ``purpose`` (and an optional finer key such as a pass)."""
        sequence = SeedSequence(self.seed, spawn_key=(self.replication, purpose, *key))
        return Generator(PCG64(sequence))

    def uniforms(self, purpose: Purpose, key: tuple[int, int], rows: int) -> np.ndarray:
        """The first ``rows`` rows of four uniforms of the stream of ``purpose`` and ``key`` (a
        lead and a pass, each below :data:`KEY_LIMIT`).

        The stream is Philox, counter-based: its key is a number spawned from the seed for
        ``(replication, purpose)`` and ``key[0] * 2**32 + key[1]``, its counter starts at 0. So
        each key has its own stream, whatever other keys are drawn and in whatever order, and
        starting one is only re-keying a generator: a run starts one per recycled lead and
        pass, about four times faster than spawning a generator from a ``SeedSequence``.

        With a store of draws (runs of one replication sharing it), a stream already drawn to
        at least ``rows`` rows is not drawn again: a stream's first rows are the same however
        many are drawn, so the result is too.
        """
        if not self._keep_streams:
            return self._draw(purpose, key, rows)
        drawn = self._drawn.get((purpose, *key))
        if drawn is None or len(drawn) < rows:
            drawn = self._draw(purpose, key, rows)
            drawn.flags.writeable = False
            self._drawn[(purpose, *key)] = drawn
        return drawn[:rows]

    def _draw(self, purpose: Purpose, key: tuple[int, int], rows: int) -> np.ndarray:
        first, second = key
        if not (0 <= first < KEY_LIMIT and 0 <= second < KEY_LIMIT):
            raise ValueError(f"a per-lead stream key is two numbers below 2**32, not {key}")
        keyed = self._keyed.get(purpose)
        if keyed is None:
            spawned = SeedSequence(self.seed, spawn_key=(self.replication, purpose))
            root = spawned.generate_state(1, np.uint64)[0]
            bit_generator = Philox(key=root)
            state = bit_generator.state
            state["state"] = {
                "counter": np.zeros(4, dtype=np.uint64),
                "key": np.array([root, 0], dtype=np.uint64),
            }
            state["buffer_pos"] = 4
            state["has_uint32"] = 0
            keyed = (Generator(bit_generator), state)
            self._keyed[purpose] = keyed
        generator, state = keyed
        state["state"]["key"][1] = first * KEY_LIMIT + second  # the setter copies the arrays
        generator.bit_generator.state = state
        return generator.random((rows, 4))

    def sales_rows(self, pass_index: int, leads: np.ndarray, draws_per_lead: int) -> np.ndarray:
        """The uniforms (float32) of each of ``leads`` for sales pass ``pass_index``, a row
        each: lead ``lead``'s row is row ``lead`` of ``random((n, draws_per_lead),
        dtype=float32)`` drawn from the pass's generator, for any ``n`` above ``lead``.

        The pass's stream runs lead after lead, so which leads reach sales (a matter of
        policy) shifts no lead's draws. Only the chunks of :data:`SALES_CHUNK` leads that
        someone in them reaches are drawn: the generator jumps to a chunk's first number
        (``PCG64.advance``), so a run holds the draws of the leads sales worked, not of the
        whole database for every pass (at 3M leads, 180 MB a pass). The chunks missing are
        drawn together, consecutive ones in one draw: the sales floor asks for a batch of MQLs
        at once.
        """
        chunks, rows = np.divmod(leads, SALES_CHUNK)
        unique, which = np.unique(chunks, return_inverse=True)
        keys = [(Purpose.SALES, pass_index, draws_per_lead, chunk) for chunk in unique.tolist()]
        missing = [key[-1] for key in keys if key not in self._drawn]
        # Runs of consecutive chunks: a chunk minus its rank is the same along a run.
        for _, run in itertools.groupby(enumerate(missing), lambda pair: pair[1] - pair[0]):
            self._sales_chunks(pass_index, draws_per_lead, [chunk for _, chunk in run])
        if not keys:
            return np.empty((0, draws_per_lead), dtype=np.float32)
        return np.stack([self._drawn[key] for key in keys])[which, rows]

    def _sales_chunks(self, pass_index: int, draws_per_lead: int, chunks: list[int]) -> None:
        """Draw and keep the consecutive ``chunks`` of pass ``pass_index``, in one draw."""
        at = self._sales_at.get(pass_index)
        if at is None:
            at = (self.generator(Purpose.SALES, pass_index), 0)
        generator, position = at
        # Each 64-bit output gives two float32 uniforms, and a chunk starts on a whole one.
        # The generator jumps from where the last draw left it, forward or (modulo the
        # period, 2**128) back: cheaper than restoring its first state for every chunk.
        start = chunks[0] * SALES_CHUNK * draws_per_lead // 2
        cast(PCG64, generator.bit_generator).advance((start - position) % _PCG64_PERIOD)
        shape = (len(chunks), SALES_CHUNK, draws_per_lead)
        blocks = generator.random(shape, dtype=np.float32)
        blocks.flags.writeable = False
        self._sales_at[pass_index] = (generator, start + blocks.size // 2)
        for chunk, block in zip(chunks, blocks, strict=True):
            self._drawn[(Purpose.SALES, pass_index, draws_per_lead, chunk)] = block
