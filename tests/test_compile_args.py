"""tg.compile's signature of a call (docs/DESIGN.md, Note [Compile] "The signature"):
a list of distinct Values is one token, taken in one step, and every object that
appears twice, in one list or across arguments, stays one input of the tape.
"""
from __future__ import annotations

import random

import pytest


def _dot(xs, ys):
    return sum(x * y for x, y in zip(xs, ys))


@pytest.mark.parametrize("n", [3, 2000])
def test_a_value_repeated_anywhere_in_a_long_list_stays_one_input(tg, n):
    xs = [tg.Value(float(i % 7) - 3.0) for i in range(n)]
    step = tg.compile(_dot)
    ones = [1.0] * n
    step(xs, ones)
    rng = random.Random(n)
    for _ in range(3):  # the same object at two random places, far apart or not
        i, j = rng.sample(range(n), 2)
        ys = list(xs)
        ys[j] = xs[i]
        rng.shuffle(ys)
        for v in xs:
            v.grad = 0.0
        out = step(ys, ones)
        out.backward()
        expect = _dot(ys, ones)
        assert out.data == expect.data
        assert xs[i].grad == 2.0 and sum(v.grad for v in xs) == float(n)


def test_a_list_and_a_value_of_it_passed_beside_it_share_the_input(tg):
    xs = [tg.Value(float(i)) for i in range(1, 6)]
    step = tg.compile(lambda xs, w: sum(xs) * w)
    assert step(xs, tg.Value(2.0)).data == 30.0
    out = step(xs, xs[3])  # xs[3] is in the list too: another signature
    out.backward()
    assert out.data == 60.0 and xs[3].grad == 15.0 + 4.0 and xs[0].grad == 4.0
    assert step.traces == 2
    for v in xs:
        v.grad = 0.0
    out = step(xs, xs[1])  # the same structure, another position: replays only if that is right
    out.backward()
    assert out.data == 30.0 and xs[1].grad == 15.0 + 2.0 and xs[3].grad == 2.0


def test_one_list_passed_twice_is_one_set_of_inputs(tg):
    xs = [tg.Value(float(i)) for i in range(1, 5)]
    step = tg.compile(_dot)
    out = step(xs, xs)
    out.backward()
    assert out.data == 30.0 and [v.grad for v in xs] == [2.0, 4.0, 6.0, 8.0]
    ys = [tg.Value(float(i)) for i in range(1, 5)]
    out = step(xs, ys)  # two lists: another signature
    assert out.data == 30.0 and step.traces == 2
    for v in xs:
        v.grad = 0.0
    out = step(ys, ys)
    out.backward()
    assert [v.grad for v in ys] == [2.0, 4.0, 6.0, 8.0] and step.traces == 2


def test_a_list_of_a_value_subclass_is_walked_item_by_item(tg):
    class Param(tg.Value):
        pass

    xs = [Param(1.0), Param(2.0), tg.Value(3.0)]
    step = tg.compile(lambda xs: xs[0] * xs[1] + xs[2])
    assert step(xs).data == 5.0 and step(xs).data == 5.0 and step.traces == 1


def test_values_spread_over_the_heap_checked_again_when_the_list_changes(tg):
    """Values far apart in memory (the check sorts them, and remembers the last list
    found distinct): the same list again is distinct, one with a duplicate in it is not,
    whatever list came before; and the compiled function takes each as eager would."""
    spacers = []
    xs = []
    for i in range(400):
        spacers.append([float(k) for k in range(64)])  # keeps the Values far apart
        xs.append(tg.Value(float(i % 5) - 2.0))
    ones = [1.0] * len(xs)
    step = tg.compile(_dot)
    for trial in range(4):
        ys = list(xs)
        if trial % 2:
            ys[trial * 17] = ys[trial * 31]  # one object twice: another signature
        for v in xs:
            v.grad = 0.0
        out = step(ys, ones)
        out.backward()
        got = [v.grad for v in xs]
        for v in xs:
            v.grad = 0.0
        _dot(ys, ones).backward()
        assert got == [v.grad for v in xs] and out.data == _dot(ys, ones).data
    if hasattr(tg, "_core"):  # the native check itself
        assert tg._core._distinct_values(xs) and tg._core._distinct_values(xs)
        dup = list(xs)
        dup[5] = xs[300]
        assert not tg._core._distinct_values(dup)
        assert tg._core._distinct_values(xs)
