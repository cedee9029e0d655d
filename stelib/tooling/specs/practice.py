"""Parameters of the chapter *Practice on real data* (``chapters/practice.ipynb``)."""

from stelib.tooling.chapterspec import DEVICE, DEVICE_RULE, Bool, ChapterSpec, Choice, Int, Param, Real, Rule, Seq

STE = Choice("identity", "relu", "crelu")
ARCH = Choice("mlp", "cnn", "lenet5", "vgg11", "resnet20")
BIG = {"lenet5", "vgg11", "resnet20"}


SPEC = ChapterSpec("practice", {
    "archs": Param(
        ["mlp", "cnn"],
        Seq(ARCH, min_len=1, max_len=2, unique=True),
        "networks trained with Yin et al.'s recipe"),
    "bits": Param([2, 4], Seq(Int(1, 8), min_len=1, max_len=4, unique=True), "bit widths of the Yin-recipe runs"),
    "stes": Param(["identity", "relu", "crelu"], Seq(STE, min_len=1, max_len=3, unique=True), "STEs compared"),
    "seeds": Param(
        [0, 1, 2],
        Seq(Int(0, 2**31 - 1), min_len=2, max_len=10, unique=True),
        "initialisation and shuffling seeds, one run per seed"),  # two at least: judged with the spread
    "epochs_mlp": Param(10, Int(1, 500), "epochs of the MLP (and of its full-precision start)"),
    "epochs_cnn": Param(3, Int(1, 500), "epochs of the convolutional networks (and of their start)"),
    "lr": Param(0.05, Real(0, 1, low_open=True), "learning rate of SGD with momentum 0.9"),
    "batch_size": Param(64, Int(8, 1024), "mini-batch size"),
    "lloyd_samples": Param(200_000, Int(1000, 10**7), "half-Gaussian samples for Lloyd's algorithm"),
    "lloyd_seed": Param(0, Int(0, 2**31 - 1), "seed of those samples"),
    "scale_bits": Param(
        [1, 2, 4],
        Seq(Int(1, 8), min_len=1, max_len=4, unique=True),
        "bit widths without normalisation and with a learnable gain"),
    "scale_epochs": Param(15, Int(1, 500), "epochs of the MLPs of those two regimes"),
    "repel_bits": Param(4, Int(1, 8), "bit width of the restart experiment (one of bits)"),
    "repel_lrs": Param(
        [1e-5, 1e-3, 1e-2, 0.05],
        Seq(Real(0, 1, low_open=True), min_len=1, max_len=6, unique=True),
        "restart learning rates (Yin et al.: 1e-5)"),
    "repel_epochs": Param(5, Int(1, 200), "epochs of the restart"),
    "dataset": Param(
        "digits",
        Choice("digits", "mnist", "cifar10"),
        '"digits" (offline), "mnist" or "cifar10" (torchvision, cached)'),
    "download": Param(False, Bool(), "allow torchvision to download mnist/cifar10 into the cache"),
    "data_seed": Param(0, Int(0, 2**31 - 1), "seed of the digits' train/test split"),
    "device": Param("cpu", DEVICE, '"cpu", "cuda" or "auto" (a GPU when one is present)'),
    "full": Param(False, Bool(), "True: Yin's epochs (50 on digits/MNIST, 200 on CIFAR-10) and seeds 0-4"),
    "mixed_precision": Param(False, Bool(), "bf16 for lenet5, vgg11, resnet20: changes the numerics"),
}, rules=(
    Rule("repel_bits is one of bits", lambda v: v["repel_bits"] in v["bits"], ("repel_bits", "bits")),
    Rule("archs 'cnn' only with dataset 'digits' (use 'lenet5' for mnist or cifar10)",
         lambda v: not ("cnn" in v["archs"] and v["dataset"] != "digits"), ("archs", "dataset")),
    Rule("archs lenet5, vgg11 and resnet20 only with dataset mnist or cifar10",
         lambda v: not (v["dataset"] == "digits" and set(v["archs"]) & BIG), ("dataset", "archs")),
    Rule("mixed_precision only when every arch is lenet5, vgg11 or resnet20 (mlp and cnn run in float32)",
         lambda v: not (v["mixed_precision"] and set(v["archs"]) - BIG), ("mixed_precision", "archs")),
    DEVICE_RULE,
))
