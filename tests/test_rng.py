"""Random streams: keyed, reproducible, and reusable across runs that share them."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.random import Generator, Philox, SeedSequence

from mqlsim.core.rng import SALES_CHUNK, Purpose, Streams


def philox_stream(seed: int, replication: int, purpose: Purpose, key: tuple[int, int]):
    """The documented per-lead stream: Philox keyed by (a number spawned for (replication,
    purpose), key[0] * 2**32 + key[1]), counter from 0."""
    root = SeedSequence(seed, spawn_key=(replication, purpose)).generate_state(1, np.uint64)[0]
    return Generator(Philox(key=np.array([root, key[0] * 2**32 + key[1]], dtype=np.uint64)))


def test_uniforms_are_the_streams_first_rows_with_or_without_a_store() -> None:
    store: dict = {}
    shared, alone = Streams(7, 1, store), Streams(7, 1)
    for rows in (3, 9, 2, 9, 0):
        expected = philox_stream(7, 1, Purpose.RECYCLED_TOUCHES, (5, 2)).random((rows, 4))
        for streams in (shared, alone):
            drawn = streams.uniforms(Purpose.RECYCLED_TOUCHES, (5, 2), rows)
            assert np.array_equal(drawn, expected)
    assert set(store) == {(Purpose.RECYCLED_TOUCHES, 5, 2)}
    assert len(store[(Purpose.RECYCLED_TOUCHES, 5, 2)]) == 9  # drawn again only when longer
    assert not store[(Purpose.RECYCLED_TOUCHES, 5, 2)].flags.writeable
    other = shared.uniforms(Purpose.RECYCLED_TOUCHES, (5, 3), 4)
    assert not np.array_equal(other, shared.uniforms(Purpose.RECYCLED_TOUCHES, (5, 2), 4))


def test_a_keys_stream_is_the_same_whatever_was_drawn_before_it() -> None:
    streams = Streams(7, 1)
    alone = Streams(7, 1).uniforms(Purpose.RECYCLED_TOUCHES, (5, 2), 6)
    for key in [(0, 0), (2, 5), (5, 3), (2**32 - 1, 2**32 - 1)]:
        streams.uniforms(Purpose.RECYCLED_TOUCHES, key, 3)
    assert np.array_equal(streams.uniforms(Purpose.RECYCLED_TOUCHES, (5, 2), 6), alone)


def test_every_part_of_a_streams_identity_changes_its_draws() -> None:
    def draws(seed: int, replication: int, purpose: Purpose, key: tuple[int, int]) -> bytes:
        return Streams(seed, replication).uniforms(purpose, key, 2).tobytes()

    base = (7, 1, Purpose.RECYCLED_TOUCHES, (5, 2))
    variants = [
        (8, 1, Purpose.RECYCLED_TOUCHES, (5, 2)),
        (7, 2, Purpose.RECYCLED_TOUCHES, (5, 2)),
        (7, 1, Purpose.TOUCHES, (5, 2)),
        (7, 1, Purpose.RECYCLED_TOUCHES, (2, 5)),  # the two numbers are not interchangeable
        (7, 1, Purpose.RECYCLED_TOUCHES, (5, 3)),
    ]
    assert len({draws(*base), *(draws(*variant) for variant in variants)}) == 6


@pytest.mark.parametrize("key", [(-1, 0), (0, 2**32), (2**32, 0)])
def test_a_key_outside_32_bits_is_refused(key: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="below 2\\*\\*32"):
        Streams(7, 1).uniforms(Purpose.RECYCLED_TOUCHES, key, 1)


def test_sales_rows_are_rows_of_one_draw_for_every_lead_of_the_pass() -> None:
    # Chunks drawn by jumping the pass's generator give, bit for bit, the rows of one draw of
    # the whole block, in whatever order leads ask (the last chunk included, and an odd number
    # of draws per lead, where a lead's row starts inside a 64-bit output).
    leads = 5 * SALES_CHUNK + 3
    for draws_per_lead in (5, 15):
        whole = (
            Streams(7, 1)
            .generator(Purpose.SALES, 2)
            .random((leads, draws_per_lead), dtype=np.float32)
        )
        streams = Streams(7, 1)
        for lead in [leads - 1, 0, 3 * SALES_CHUNK + 1, 1, SALES_CHUNK, SALES_CHUNK - 1]:
            asked = np.array([lead])
            assert np.array_equal(streams.sales_rows(2, asked, draws_per_lead), whole[asked])


def test_sales_rows_are_the_same_whichever_chunks_are_drawn_together() -> None:
    # Consecutive missing chunks are drawn in one call, after and before chunks already drawn
    # alone: every row is still the lead's row of one draw for the whole pass.
    whole = Streams(7, 1).generator(Purpose.SALES, 2).random((9 * SALES_CHUNK, 13), np.float32)
    streams = Streams(7, 1)
    streams.sales_rows(2, np.array([5 * SALES_CHUNK + 4]), 13)  # chunk 5 drawn alone first
    asked = np.array([8 * SALES_CHUNK + 1, 3, 2 * SALES_CHUNK, 3, SALES_CHUNK + 7, 6 * SALES_CHUNK])
    assert np.array_equal(streams.sales_rows(2, asked, 13), whole[asked])
    assert streams.sales_rows(2, asked[:0], 13).shape == (0, 13)
    later = np.array([4 * SALES_CHUNK, 5 * SALES_CHUNK + 4, 7 * SALES_CHUNK + 31])
    assert np.array_equal(streams.sales_rows(2, later, 13), whole[later])


def test_sales_draws_are_drawn_once_per_chunk_and_shared_through_the_store() -> None:
    store: dict = {}
    first = Streams(7, 1, store).sales_rows(0, np.array([3]), 5)
    assert len(store) == 1  # one chunk of SALES_CHUNK leads, not the whole pass
    (block,) = store.values()
    assert not block.flags.writeable
    assert np.array_equal(Streams(7, 1, store).sales_rows(0, np.array([3]), 5), first)
    (again,) = store.values()
    assert again is block  # drawn once, shared by runs of the replication
    assert np.array_equal(Streams(7, 1).sales_rows(0, np.array([3]), 5), first)
    assert not np.array_equal(Streams(7, 1).sales_rows(1, np.array([3]), 5), first)
