"""Random streams: keyed, reproducible, and reusable across runs that share them."""

from __future__ import annotations

import numpy as np

from sim.rng import Purpose, Streams


def test_uniforms_are_the_streams_first_rows_with_or_without_a_store() -> None:
    store: dict = {}
    shared, alone = Streams(7, 1, store), Streams(7, 1)
    for rows in (3, 9, 2, 9, 0):
        expected = Streams(7, 1).generator(Purpose.RECYCLED_TOUCHES, 5, 2).random((rows, 4))
        for streams in (shared, alone):
            drawn = streams.uniforms(Purpose.RECYCLED_TOUCHES, (5, 2), rows)
            assert np.array_equal(drawn, expected)
    assert set(store) == {(Purpose.RECYCLED_TOUCHES, 5, 2)}
    assert len(store[(Purpose.RECYCLED_TOUCHES, 5, 2)]) == 9  # drawn again only when longer
    assert not store[(Purpose.RECYCLED_TOUCHES, 5, 2)].flags.writeable
    other = shared.uniforms(Purpose.RECYCLED_TOUCHES, (5, 3), 4)
    assert not np.array_equal(other, shared.uniforms(Purpose.RECYCLED_TOUCHES, (5, 2), 4))


def test_a_sales_block_is_drawn_once_per_pass_and_shared_through_the_store() -> None:
    store: dict = {}
    first = Streams(7, 1, store).sales_block(0, 10, 5)
    again = Streams(7, 1, store).sales_block(0, 10, 5)
    assert again is first and not first.flags.writeable
    assert np.array_equal(Streams(7, 1).sales_block(0, 10, 5), first)
    assert not np.array_equal(Streams(7, 1).sales_block(1, 10, 5), first)
