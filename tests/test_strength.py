import numpy as np
import pytest

from recolor_hf.strength import check_alpha


def test_numbers_in_range_are_accepted_as_floats():
    for value in (0, 1, 2.0, np.float32(0.5), np.int64(1), np.float64(1.5)):
        assert check_alpha(value) == float(value) and type(check_alpha(value)) is float


@pytest.mark.parametrize("bad", [-0.1, 2.01, float("nan"), float("inf"), "1", None, True, np.bool_(True), [1.0]])
def test_anything_else_is_refused(bad):
    with pytest.raises(ValueError, match="alpha must be"):
        check_alpha(bad)
