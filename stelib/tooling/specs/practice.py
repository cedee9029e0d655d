"""Parameters of the chapter *Practice on real data* (``chapters/practice.ipynb``)."""

from stelib.tooling.params import DEVICE, DEVICE_RULE, Bool, ChapterSpec, Choice, Int, Real, Rule, Seq

STE = Choice("identity", "relu", "crelu")
ARCH = Choice("mlp", "cnn", "lenet5", "vgg11", "resnet20")
BIG = {"lenet5", "vgg11", "resnet20"}


SPEC = ChapterSpec("practice", {
    "archs": Seq(ARCH, min_len=1, max_len=2, unique=True),
    "bits": Seq(Int(1, 8), min_len=1, max_len=4, unique=True),
    "stes": Seq(STE, min_len=1, max_len=3, unique=True),
    "seeds": Seq(Int(0, 2**31 - 1), min_len=1, max_len=10, unique=True),
    "epochs_mlp": Int(1, 500),
    "epochs_cnn": Int(1, 500),
    "lr": Real(0, 1, low_open=True),
    "batch_size": Int(8, 1024),
    "lloyd_samples": Int(1000, 10**7),
    "lloyd_seed": Int(0, 2**31 - 1),
    "scale_bits": Seq(Int(1, 8), min_len=1, max_len=4, unique=True),
    "scale_epochs": Int(1, 500),
    "repel_bits": Int(1, 8),
    "repel_lrs": Seq(Real(0, 1, low_open=True), min_len=1, max_len=6, unique=True),
    "repel_epochs": Int(1, 200),
    "dataset": Choice("digits", "mnist", "cifar10"),
    "download": Bool(),
    "data_seed": Int(0, 2**31 - 1),
    "device": DEVICE,
    "full": Bool(),
}, rules=(
    Rule("repel_bits is one of bits", lambda v: v["repel_bits"] in v["bits"], ("repel_bits", "bits")),
    Rule("archs 'cnn' only with dataset 'digits' (use 'lenet5' for mnist or cifar10)",
         lambda v: not ("cnn" in v["archs"] and v["dataset"] != "digits"), ("archs", "dataset")),
    Rule("archs lenet5, vgg11 and resnet20 only with dataset mnist or cifar10",
         lambda v: not (v["dataset"] == "digits" and set(v["archs"]) & BIG), ("dataset", "archs")),
    DEVICE_RULE,
))
