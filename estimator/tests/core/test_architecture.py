"""estimator.core.architecture's array helpers: the request-sized shortcuts give numpy's and pandas' answers."""

import numpy as np
import pandas as pd
import pytest

from estimator.core.architecture import Coded, _factorize, map_combinations, nan_to_num

FEW = [
    np.array([2.0, np.nan, 2.0, -0.0, 0.0, np.nan]),
    np.array(["a", "", None, "a", np.nan, None, pd.NA], dtype=object),
    np.array([True, False, True]),
    np.array([3, 1, 3, 3], dtype=np.int64),
    np.array([], dtype=np.float64),
]


@pytest.mark.parametrize("values", FEW, ids=["floats", "text", "bools", "ints", "empty"])
def test_a_few_values_factorize_as_pandas_does(values):
    codes, count = _factorize(values)
    expected, uniques = pd.factorize(values, use_na_sentinel=False)
    assert codes.tolist() == expected.tolist() and count == len(uniques)


def test_combinations_of_a_few_rows_map_as_many_rows_do():
    kinds = np.array(["gpu", "cpu", "gpu", "gpu"], dtype=object)
    diffusion = np.array([False, False, True, False])
    calls = []

    def label(ks, ds):
        calls.append(len(ks))
        return [f"{k}:{d}" for k, d in zip(ks, ds)]

    few = map_combinations([kinds, diffusion], label, as_coded=True)
    many = map_combinations([np.tile(kinds, 10), np.tile(diffusion, 10)], label, as_coded=True)
    assert few.values.tolist() == ["gpu:False", "cpu:False", "gpu:True", "gpu:False"]
    assert many.values.tolist() == few.values.tolist() * 10
    assert calls == [3, 3]  # once per distinct combination, whichever path


@pytest.mark.parametrize("values", [
    np.array([1.5, np.nan, np.inf, -np.inf]), np.array([1.5, 2.5]), np.array([1, 2]), np.float64(np.nan), 3.0,
], ids=["non-finite", "finite", "ints", "scalar-nan", "python-float"])
def test_nan_to_num_gives_numpys_values(values):
    ours, numpys = nan_to_num(values, nan=7.0), np.nan_to_num(values, nan=7.0)
    assert np.array_equal(ours, numpys) and np.asarray(ours).dtype == np.asarray(numpys).dtype
    assert type(ours) is type(numpys)


def test_nan_to_num_returns_a_copy():
    values = np.array([1.0, 2.0])
    nan_to_num(values)[0] = 9.0
    assert values[0] == 1.0


def test_a_coded_column_is_in_a_set_of_labels_as_np_isin_says():
    column = Coded(np.array([0, 1, 2, 1, 0]), np.array(["llama-cpp", "vllm", ""], dtype=object))
    assert column.isin({"vllm", "sglang"}).tolist() == [False, True, False, True, False]
    assert column.isin(["llama-cpp", ""]).tolist() == np.isin(column.values, ["llama-cpp", ""]).tolist()
