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

from ddstudy.errors import DDStudyError
from ddstudy.lazy import lazy

torch = lazy("torch")
nn = lazy("torch.nn")

Factory = Callable[[int, int, int], "nn.Module"]  # (channels, num_classes, image_size) → module

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


# The networks subclass ``nn.Module`` at import, so importing them loads torch (``ddstudy.lazy``): each factory
# imports its family's module when the first network is built. The imports are written out (not importlib with a
# name) so the import graph — DVC's code deps, the layering contracts — sees them.


def _convnet(settings: dict) -> Factory:
    def factory(channels: int, num_classes: int, image_size: int) -> nn.Module:
        from ddstudy.models.convnet import ConvNet, ConvNetConfig

        return ConvNet(channels, num_classes, image_size, replace(ConvNetConfig(), **settings))

    return factory


def _small(name: str, **settings) -> Factory:
    def factory(channels: int, num_classes: int, image_size: int) -> nn.Module:
        from ddstudy.models import small

        return getattr(small, name)(channels, num_classes, image_size, **settings)

    return factory


def _vgg(plan: str, **settings) -> Factory:
    def factory(channels: int, num_classes: int, image_size: int) -> nn.Module:
        from ddstudy.models.vgg import VGG

        return VGG(plan, channels, num_classes, image_size, **settings)

    return factory


def _resnet(blocks: list[int], **settings) -> Factory:
    def factory(channels: int, num_classes: int, image_size: int) -> nn.Module:
        from ddstudy.models.resnet import ResNet

        return ResNet(blocks, channels, num_classes, image_size, **settings)

    return factory


MODELS: dict[str, Factory] = {
    **{f"ConvNet{suffix}": _convnet(settings) for suffix, settings in CONVNET_VARIANTS.items()},
    "MLP": _small("MLP"),
    "LeNet": _small("LeNet"),
    "AlexNet": _small("AlexNet"),
    "AlexNetBN": _small("AlexNet", batch_norm=True),
    "VGG11": _vgg("VGG11"),
    "VGG11BN": _vgg("VGG11", norm="batch"),
    "ResNet18": _resnet([2, 2, 2, 2]),
    "ResNet18BN": _resnet([2, 2, 2, 2], norm="batch"),
    "ResNet18_AP": _resnet([2, 2, 2, 2], avg_pool=True),
    "ResNet18BN_AP": _resnet([2, 2, 2, 2], norm="batch", avg_pool=True),
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


def has_batchnorm(net: nn.Module) -> bool:
    """Whether a network keeps BatchNorm running statistics (DC freezes them; stacked training cannot share them)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
