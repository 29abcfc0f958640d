"""imflow.chain.Chain behaves as the tuple of its items, whatever was appended where."""

from __future__ import annotations

import copy
import pickle
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow.chain import Chain, Pending

# a program: each step appends an item to one of the chains made so far (a branch
# when that chain was appended to before)
STEPS = st.lists(st.tuples(st.integers(0, 30), st.integers()), max_size=40)


@given(start=st.lists(st.integers(), max_size=5), steps=STEPS)
def test_every_chain_stays_the_tuple_it_was_made_as(start: list[int], steps: Any) -> None:
    chains = [Chain(start)]
    models = [tuple(start)]
    for pick, item in steps:
        i = pick % len(chains)
        chains.append(chains[i].appended(item))
        models.append((*models[i], item))
    for chain, model in zip(chains, models, strict=True):
        assert chain == model and model == chain and tuple(chain) == model
        assert len(chain) == len(model) and list(reversed(chain)) == list(reversed(model))
        assert hash(chain) == hash(model) and chain == Chain(model)
        assert chain[:] == model and chain[1:-1] == model[1:-1] and chain[::-2] == model[::-2]
        if model:
            assert chain[0] == model[0] and chain[-1] == model[-1]
        assert pickle.loads(pickle.dumps(chain)) == chain
        assert copy.deepcopy(chain) == chain and copy.copy(chain) is chain
        assert chain + (1,) == (*model, 1)  # noqa: RUF005  (what a host may write)
        assert (1,) + chain == (1, *model)  # noqa: RUF005
        assert chain != (*model, 0) and chain != Chain((*model, 0))
        assert (chain == [*model]) is False  # like a tuple: never equal to a list


def test_indexing_past_the_end_fails_even_where_the_shared_list_is_longer() -> None:
    short = Chain((1, 2))
    short.appended(3)
    with pytest.raises(IndexError):
        short[2]
    with pytest.raises(IndexError):
        short[-3]
    assert list(short) == [1, 2] and 3 not in short


def test_pending_items_decode_once_when_read() -> None:
    decoded: list[str] = []

    def decode(raw: str) -> str:
        decoded.append(raw)
        return raw.upper()

    chain: Chain[str] = Chain._lazy(
        [Pending(decode, "a", "t", 1), Pending(decode, "b", "t", 2), "C"]
    )
    longer = chain.appended("D")
    assert decoded == [] and len(longer) == 4 and chain.peek(0).type == "t"
    assert chain[1] == "B" and decoded == ["b"]
    assert tuple(longer) == ("A", "B", "C", "D") and decoded == ["b", "a"]
    assert chain == ("A", "B", "C") and decoded == ["b", "a"]


def test_threads_appending_to_one_chain_each_get_their_own() -> None:
    base = Chain(range(100))
    results: list[Chain[int]] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        made = base
        for k in range(200):
            made = made.appended(n * 1000 + k)
        with lock:
            results.append(made)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for made in results:
        n = made[100] // 1000
        assert tuple(made) == (*range(100), *(n * 1000 + k for k in range(200)))
    assert base == tuple(range(100))
