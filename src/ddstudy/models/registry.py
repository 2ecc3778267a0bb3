"""Model names → constructors, one table (the reference's 35-branch ``get_network`` if/elif, as data).

Names are the reference's: ``ConvNet`` and its variants (``ConvNetD1``–``D6``, ``ConvNetW32``–``W256``,
``ConvNetAS/AR/AL/ASwish/ASwishBN``, ``ConvNetNN/BN/LN/IN/GN``, ``ConvNetNP/MP/AP``), ``MLP``, ``LeNet``,
``AlexNet``, ``AlexNetBN``, ``VGG11``, ``VGG11BN``, ``ResNet18``, ``ResNet18BN``, ``ResNet18_AP``,
``ResNet18BN_AP``. Initialisation is seeded explicitly (the reference seeds from the wall clock).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from ddstudy.errors import DDStudyError
from ddstudy.models.convnet import ConvNet, ConvNetConfig
from ddstudy.models.resnet import ResNet
from ddstudy.models.small import MLP, AlexNet, LeNet
from ddstudy.models.vgg import VGG

Factory = Callable[[int, int, int], nn.Module]  # (channels, num_classes, image_size) → module

# ConvNet variant suffix → the settings it changes (reference get_network / model_pool.get_network).
CONVNET_VARIANTS: dict[str, dict] = {
    "": {},
    **{f"D{d}": {"depth": d} for d in range(1, 7)},
    **{f"W{w}": {"width": w} for w in (32, 64, 128, 256)},
    "AS": {"act": "sigmoid"},
    "AR": {"act": "relu"},
    "AL": {"act": "leakyrelu"},
    "ASwish": {"act": "swish"},
    "ASwishBN": {"act": "swish", "norm": "batch"},
    "NN": {"norm": "none"},
    "BN": {"norm": "batch"},
    "LN": {"norm": "layer"},
    "IN": {"norm": "instance"},
    "GN": {"norm": "group"},
    "NP": {"pooling": "none"},
    "MP": {"pooling": "max"},
    "AP": {"pooling": "avg"},
}


def _convnet(settings: dict) -> Factory:
    config = replace(ConvNetConfig(), **settings)
    return lambda c, k, s: ConvNet(c, k, s, config)


MODELS: dict[str, Factory] = {
    **{f"ConvNet{suffix}": _convnet(settings) for suffix, settings in CONVNET_VARIANTS.items()},
    "MLP": MLP,
    "LeNet": LeNet,
    "AlexNet": AlexNet,
    "AlexNetBN": lambda c, k, s: AlexNet(c, k, s, batch_norm=True),
    "VGG11": lambda c, k, s: VGG("VGG11", c, k, s),
    "VGG11BN": lambda c, k, s: VGG("VGG11", c, k, s, norm="batch"),
    "ResNet18": lambda c, k, s: ResNet([2, 2, 2, 2], c, k, s),
    "ResNet18BN": lambda c, k, s: ResNet([2, 2, 2, 2], c, k, s, norm="batch"),
    "ResNet18_AP": lambda c, k, s: ResNet([2, 2, 2, 2], c, k, s, avg_pool=True),
    "ResNet18BN_AP": lambda c, k, s: ResNet([2, 2, 2, 2], c, k, s, norm="batch", avg_pool=True),
}
SUPPORTED_SIZES = (28, 32)


def check_model_name(name: str) -> str:
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(MODELS))}"
        raise DDStudyError(f"unknown model '{name}' ({hint})")
    return name


def build_model(name: str, channels: int, num_classes: int, image_size: int, seed: int) -> nn.Module:
    """A freshly initialised model; the same (name, shape, seed) always gives the same weights.

    The global torch RNG is left as it was (initialisation runs inside ``fork_rng``).
    """
    factory = MODELS[check_model_name(name)]
    if image_size not in SUPPORTED_SIZES:
        raise DDStudyError(f"model '{name}' supports {SUPPORTED_SIZES} px inputs, got {image_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return factory(int(channels), int(num_classes), int(image_size))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
