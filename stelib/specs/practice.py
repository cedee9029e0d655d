"""Parameters of the chapter *Practice on real data* (``chapters/practice.ipynb``)."""

from stelib.params import Bool, ChapterSpec, Choice, Int, Real, Rule, Seq

STE = Choice("identity", "relu", "crelu")


def device_present(values) -> bool:
    """``device="cuda"`` needs a CUDA GPU visible to PyTorch (``"auto"`` falls back to the CPU)."""
    if values["device"] != "cuda":
        return True
    import torch

    return bool(torch.cuda.is_available())


SPEC = ChapterSpec("practice", {
    "bits": Seq(Int(1, 8), min_len=1, max_len=4, unique=True),
    "stes": Seq(STE, min_len=1, max_len=3, unique=True),
    "seeds": Seq(Int(0, 2**31 - 1), min_len=1, max_len=10, unique=True),
    "epochs_mlp": Int(1, 500),
    "epochs_cnn": Int(1, 500),
    "lr": Real(0, 1, low_open=True),
    "batch_size": Int(8, 1347),
    "repel_bits": Int(1, 8),
    "repel_lr": Real(0, 1, low_open=True),
    "repel_epochs": Int(1, 200),
    "data_seed": Int(0, 2**31 - 1),
    "device": Choice("cpu", "cuda", "auto"),
    "full": Bool(),
}, rules=(
    Rule("device 'cpu' or 'auto' on a machine without a CUDA GPU", device_present, ("device",)),
))
