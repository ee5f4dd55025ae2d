from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skopt.space import Categorical, Integer, Real, Space

from scaleup_bo import InvalidPointError, SearchSpace, SearchSpaceError


def test_encodes_each_kind_of_dimension():
    space = SearchSpace(
        [
            Real(0.0, 10.0),
            Real(1e-4, 1.0, prior="log-uniform"),
            Integer(2, 6),
            Integer(1, 1000, prior="log-uniform", base=2),
            Categorical(["a", "b", "c"]),
        ]
    )
    assert space.n_columns == 1 + 1 + 1 + 1 + 3
    X = space.to_unit([[2.5, 1e-2, 4, 10, "b"]])
    assert X.dtype == torch.float64
    expected = [0.25, 0.5, 0.5, 1 / 3, 0.0, 1.0, 0.0]
    assert X[0].tolist() == pytest.approx(expected)


def test_decodes_to_python_types_inside_bounds():
    space = SearchSpace(
        [Real(-1.0, 1.0), Integer(0, 5), Categorical(["x", "y"]), Categorical([10, 20])]
    )
    (point,) = space.from_unit(torch.tensor([[1.3, 0.52, 0.2, 0.9, 0.1, 0.7]], dtype=torch.float64))
    assert point == [1.0, 3, "y", 20]
    assert type(point[0]) is float and type(point[1]) is int and type(point[3]) is int


def test_log_uniform_integer_rounds_in_user_units():
    space = SearchSpace([Integer(1, 1000, prior="log-uniform")])
    for value in [1, 2, 7, 31, 999, 1000]:
        assert space.from_unit(space.to_unit([[value]]))[0] == [value]


@pytest.mark.parametrize(
    ("point", "fragment"),
    [
        ([11.0, 1, "a"], "'x0'"),
        ([0.5, 7, "a"], "'n'"),
        ([0.5, 2.5, "a"], "not an integer"),
        ([0.5, 1, "z"], "'z'"),
        ([0.5, 1], "3 values"),
        ([float("nan"), 1, "a"], "not finite"),
        (["0.5", 1, "a"], "expected a number"),
    ],
)
def test_invalid_points_name_the_dimension_and_value(point, fragment):
    space = SearchSpace(
        [Real(0.0, 10.0), Integer(0, 5, name="n"), Categorical(["a", "b"], name="c")]
    )
    with pytest.raises(InvalidPointError, match=fragment):
        space.to_unit([point])
    # Also a ValueError, as the seed package raised.
    with pytest.raises(ValueError):
        space.validate(point)


def test_accepts_skopt_shorthand_and_space():
    shorthand = SearchSpace([(0.0, 1.0), (1, 5), ["a", "b"], (1e-3, 1.0, "log-uniform")])
    kinds = [type(d).__name__ for d in shorthand.dimensions]
    assert kinds == ["Real", "Integer", "Categorical", "Real"]
    assert shorthand.dimensions[3].prior == "log-uniform"
    assert SearchSpace(Space([(0.0, 1.0)])).n_dims == 1
    assert SearchSpace(shorthand) == shorthand


@pytest.mark.parametrize(
    ("dims", "fragment"),
    [
        ([], "empty"),
        ([Real(0, 1, name="a"), Real(0, 2, name="a")], "'a'"),
        ("abc", "list of skopt dimensions"),
        ([5], "search_space\\[0\\]"),
        ([(0.0, 1.0), (1.0, 0.0)], "search_space\\[1\\].*lower bound"),
    ],
)
def test_malformed_spaces_are_refused(dims, fragment):
    with pytest.raises(SearchSpaceError, match=fragment):
        SearchSpace(dims)


def test_design_respects_log_uniform_prior():
    space = SearchSpace([Real(1e-6, 1.0, prior="log-uniform")])
    values = np.array([p[0] for p in space.sample(256, seed=0)])
    # Uniform in log space: about half the points lie below 1e-3 (uniform sampling: ~0.1%).
    assert 0.4 < np.mean(values < 1e-3) < 0.6


def test_design_is_space_filling_and_seeded():
    space = SearchSpace([Integer(1, 4), Categorical(["a", "b"])])
    design = space.sample(16, seed=3)
    assert design == space.sample(16, seed=3)
    counts = {v: sum(p[0] == v for p in design) for v in [1, 2, 3, 4]}
    assert all(c == 4 for c in counts.values()), counts


def test_integer_columns_and_categorical_blocks():
    space = SearchSpace([Integer(0, 2), Categorical(["a", "b", "c"]), Real(0, 1)])
    assert space.integer_columns() == {0: [0.0, 0.5, 1.0]}
    wide = SearchSpace([Integer(0, 2**40), Integer(1, 20)])
    assert wide.integer_columns() == {1: [i / 19 for i in range(20)]}
    assert space.categorical_blocks == [(1, 3)]
    assert space.n_category_combinations == 3


dimension_strategy = st.one_of(
    st.tuples(st.floats(-1e3, 1e3), st.floats(1e-3, 1e3)).map(lambda t: Real(t[0], t[0] + t[1])),
    st.tuples(st.floats(1e-6, 1e2), st.floats(1.01, 1e4)).map(
        lambda t: Real(t[0], t[0] * t[1], prior="log-uniform")
    ),
    st.tuples(st.integers(-50, 50), st.integers(1, 100)).map(lambda t: Integer(t[0], t[0] + t[1])),
    st.tuples(st.integers(1, 50), st.integers(1, 5000)).map(
        lambda t: Integer(t[0], t[0] + t[1], prior="log-uniform")
    ),
    st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=5, unique=True).map(Categorical),
)


@settings(max_examples=60, deadline=None)
@given(dims=st.lists(dimension_strategy, min_size=1, max_size=5), data=st.data())
def test_round_trip_property(dims, data):
    space = SearchSpace(dims)
    points = space.sample(4, seed=data.draw(st.integers(0, 1000)))
    U = space.to_unit(points)
    assert ((U >= 0) & (U <= 1)).all()
    decoded = space.from_unit(U)
    for p, q, dim in zip(points[0], decoded[0], dims, strict=True):
        if isinstance(dim, Real):
            assert math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-9 * (dim.high - dim.low))
        else:
            assert p == q
    # Decoding arbitrary unit vectors always gives valid points.
    raw = torch.tensor(
        data.draw(
            st.lists(st.floats(-0.5, 1.5), min_size=space.n_columns, max_size=space.n_columns)
        )
    )
    (point,) = space.from_unit(raw.unsqueeze(0))
    assert space.contains(point)


@settings(max_examples=40, deadline=None)
@given(low=st.floats(-1e3, 1e3), width=st.floats(1e-2, 1e3), excess=st.floats(1e-3, 1e3))
def test_out_of_bounds_is_rejected_property(low, width, excess):
    space = SearchSpace([Real(low, low + width, name="r")])
    with pytest.raises(InvalidPointError, match="'r'"):
        space.validate([low + width + excess * max(1.0, width)])
    with pytest.raises(InvalidPointError, match="'r'"):
        space.validate([low - excess * max(1.0, width)])


def test_numpy_categories_become_python_values():
    space = SearchSpace(
        [Categorical(np.array([True, False]), name="flag"), Categorical(np.arange(3))]
    )
    (point,) = space.sample(1, seed=0)
    assert type(point[0]) is bool and type(point[1]) is int
    assert space.from_unit(space.to_unit([[np.True_, np.int64(2)]])) == [[True, 2]]


def test_huge_numbers_are_checked_exactly():
    space = SearchSpace([Integer(0, 2**62, name="n"), Real(0.0, 1.0, name="r")])
    assert space.validate([2**62 - 1, 0.5]) == [2**62 - 1, 0.5]
    with pytest.raises(InvalidPointError, match=r"'n'.*outside"):
        space.validate([10**400, 0.5])
    with pytest.raises(InvalidPointError, match=r"'r'.*not finite"):
        space.validate([1, 10**400])


def test_tiny_bounds_are_checked_relative_to_their_scale():
    eps = SearchSpace([Real(1e-10, 1e-8, prior="log-uniform", name="eps")])
    for bad in (0.0, -5e-10, 2e-8):
        with pytest.raises(InvalidPointError, match="outside its bounds"):
            eps.validate([bad])
    assert eps.validate([1e-8 * (1 + 1e-12)]) == [1e-8]  # rounding next to a bound is fine


def test_a_skopt_space_is_checked_like_a_list():
    with pytest.raises(SearchSpaceError, match="bounds must be finite"):
        SearchSpace(Space([Real(0.0, math.inf)]))
    with pytest.raises(SearchSpaceError, match="log-uniform prior needs a positive lower"):
        SearchSpace(Space([Integer(-10, -1, prior="log-uniform")]))


def test_integer_bounds_must_be_integers():
    with pytest.raises(SearchSpaceError, match="Integer bounds must be integers"):
        SearchSpace([Integer(0.5, 5.5)])


def test_the_unit_cube_s_corners_decode_to_the_bounds_exactly():
    dims = [Real(1e-4, 1e-1, prior="log-uniform"), Real(2e-5, 3e-3, prior="log-uniform"),
            Real(0.2, 0.9), Real(1e-3, 0.3, prior="log-uniform")]  # fmt: skip
    space = SearchSpace(dims)
    assert space.from_unit(torch.zeros(1, 4))[0] == [1e-4, 2e-5, 0.2, 1e-3]
    assert space.from_unit(torch.ones(1, 4))[0] == [1e-1, 3e-3, 0.9, 0.3]


def test_the_design_follows_a_categorical_prior():
    space = SearchSpace([Categorical(["a", "b"], prior=[0.9, 0.1])])
    share = [p[0] for p in space.sample(256, seed=0)].count("a") / 256
    assert 0.85 < share < 0.95


def test_tuple_categories_survive_the_space_description():
    space = SearchSpace([Categorical([(64,), (64, 64)], name="hidden")])
    import json

    rebuilt = SearchSpace.from_description(json.loads(json.dumps(space.describe())))
    assert rebuilt == space and rebuilt.dimensions[0].categories == ((64,), (64, 64))


def test_all_points_enumerates_a_small_discrete_space_only():
    space = SearchSpace(
        [Integer(1, 3), Categorical(["a", "b"]), Integer(1, 100, prior="log-uniform")]
    )
    points = space.all_points()
    assert len(points) == 3 * 2 * 100 and len({tuple(p) for p in points}) == 600
    assert all(space.contains(p) for p in points)
    assert space.all_points(limit=599) is None
    assert SearchSpace([Real(0.0, 1.0), Integer(1, 3)]).all_points() is None
