"""``sentry.memory._refcounts``: the C loops behind MemoryFile's reference counts."""

from sentry.memory._refcounts import add_refs, drop_refs, page_indices


def test_add_then_drop_returns_pages_to_one_owner_and_frees_the_rest_in_runs():
    shared: dict[int, int] = {}
    add_refs(shared, [3, 4, 9])
    add_refs(shared, [4])
    assert shared == {3: 2, 4: 3, 9: 2}
    # 1, 2, 5 and 7 have one owner: freed, 1-2 as one run.
    runs = drop_refs(shared, [1, 2, 3, 4, 5, 7, 9])
    assert runs == [(1, 2), (5, 1), (7, 1)]
    assert shared == {4: 2}
    assert drop_refs(shared, [4]) == [] and shared == {}
    assert drop_refs(shared, [4]) == [(4, 1)]


def test_page_indices_sorts():
    assert page_indices([3 * 4096, 4096, 0], 4096) == [0, 1, 3]
