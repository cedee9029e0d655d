"""Edge cases of stelib._validate: lists of choices, and how long values are shown in messages."""

from __future__ import annotations

import pytest
import torch

from stelib._validate import as_tensor, check_choices


def test_check_choices_accepts_a_name_or_names_and_refuses_none():
    assert check_choices("relu", ("relu", "crelu"), name="stes") == ("relu",)
    assert check_choices(["crelu", "relu"], ("relu", "crelu"), name="stes") == ("crelu", "relu")
    assert check_choices(iter(["relu"]), ("relu", "crelu"), name="stes") == ("relu",)
    with pytest.raises(ValueError, match=r"stes=\(\) is empty; give at least one of 'relu', 'crelu'"):
        check_choices((), ("relu", "crelu"), name="stes")
    with pytest.raises(ValueError, match=r"stes='sign' is not valid"):
        check_choices(["relu", "sign"], ("relu", "crelu"), name="stes")


@pytest.mark.parametrize("length", [58, 59, 100])
def test_long_values_are_cut_to_60_characters(length):
    """A repr of up to 60 characters is shown in full; a longer one as its first 57 characters
    and '...' (60 in all). Hand-computed: the repr of 'z' * k is k + 2 characters long."""
    text = "z" * length
    with pytest.raises(ValueError) as exc:
        as_tensor(text, name="x")
    shown = str(exc.value).removeprefix("x=").split(" must be")[0]
    want = repr(text) if length + 2 <= 60 else "'" + "z" * 56 + "..."
    assert shown == want and len(shown) == min(length + 2, 60)


def test_resolve_device_cpu_auto_and_cuda_with_and_without_a_gpu(monkeypatch):
    import torch

    from stelib import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="device='cuda' was asked for"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="device='gpu' is not valid"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("cpu") == torch.device("cpu")  # a GPU present does not move 'cpu'
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize("value", [None, [1.0, None], [[None, 1.0]]])
def test_none_is_refused_not_read_as_nan(value):
    with pytest.raises(ValueError, match="q must be numeric"):
        as_tensor(value, name="q")


def test_closed_forms_refuse_v_none_naming_v():
    from stelib import LinearTeacherModel, YinModel, gaussian, misspecified

    w = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    a = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    for model in (YinModel(torch.ones(2, dtype=torch.float64), a), LinearTeacherModel(a)):
        with pytest.raises(ValueError, match="v must be numeric, got NoneType"):
            model.loss(None, w)
    # the functions of w alone still work
    assert gaussian.optimal_v(w, torch.ones(2, dtype=torch.float64), a).shape == (2,)
    assert misspecified.optimal_v(w, a).shape == (1,)


def test_an_object_array_of_numbers_is_read_as_numbers():
    import numpy as np

    t = as_tensor(np.array([1.0, 2, 3.5], dtype=object), name="q")
    assert t.dtype == torch.float64 and t.tolist() == [1.0, 2.0, 3.5]
