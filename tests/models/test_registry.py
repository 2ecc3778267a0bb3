"""Every registered model: shapes, parameter counts equal to the reference networks, seeded init.

The expected parameter counts were obtained by instantiating the reference classes of
VICO-UoE/DatasetCondensation ``networks.py`` (identical in DDInterpreter's ``utils_clom/model.py``) with 10
classes: our state dicts have the same keys and shapes, and loading a reference state dict gives identical
outputs and embeddings (checked once by hand; the reference code is not part of this repository).
"""

import pytest
import torch

from ddstudy.errors import DDStudyError
from ddstudy.models import MODELS, build_model, count_parameters

REFERENCE_PARAMETERS = {  # name: (1×28×28, 3×32×32), trainable parameters, 10 classes
    "ConvNet": (317706, 320010),
    "ConvNetW64": (85130, 86282),
    "ConvNetD4": (450186, 452490),
    "MLP": (118282, 411146),
    "LeNet": (61706, 62006),
    "AlexNet": (1865802, 1872202),
    "AlexNetBN": (1867722, 1874122),
    "VGG11": (9229962, 9231114),
    "ResNet18": (11172810, 11173962),
    "ResNet18BN": (11172810, 11173962),
    "ResNet18_AP": (11213770, 11250762),
    "ResNet18BN_AP": (11213770, 11250762),
}
EMBED_DIMS = {"ConvNet": 2048, "MLP": 128, "LeNet": 84, "AlexNet": 3072, "VGG11": 512, "ResNet18": 512}
SHAPES = [(1, 28), (3, 28), (3, 32)]


@pytest.mark.parametrize("name", [n for n in MODELS if n != "ConvNetD6"])
@pytest.mark.parametrize("channels, size", SHAPES)
def test_forward_and_embed_shapes(name, channels, size):
    model = build_model(name, channels, 10, size, seed=0).eval()
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        out, features = model(x), model.embed(x)
    assert out.shape == (2, 10)
    assert features.ndim == 2 and features.shape[0] == 2
    if name in EMBED_DIMS:
        assert features.shape[1] == EMBED_DIMS[name]


@pytest.mark.parametrize("name", REFERENCE_PARAMETERS)
def test_parameter_counts_match_the_reference(name):
    grey, colour = REFERENCE_PARAMETERS[name]
    assert count_parameters(build_model(name, 1, 10, 28, 0)) == grey
    assert count_parameters(build_model(name, 3, 10, 32, 0)) == colour


def test_colour_28px_uses_the_28px_geometry():
    """3×28×28 (coloured MNIST-like) gets the 32×32 feature maps the reference gives 1×28×28."""
    assert count_parameters(build_model("ConvNet", 3, 10, 28, 0)) == 320010
    assert build_model("ConvNet", 3, 10, 28, 0).embed(torch.zeros(1, 3, 28, 28)).shape == (1, 2048)


def test_instance_norm_is_groupnorm_per_channel():
    norm = build_model("ConvNet", 3, 10, 32, 0).features[1]
    assert isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == norm.num_channels == 128


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("ConvNet", 3, 10, 32, seed=5)
    after = torch.rand(1)
    b = build_model("ConvNet", 3, 10, 32, seed=5)
    c = build_model("ConvNet", 3, 10, 32, seed=6)
    assert torch.equal(before, after)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.classifier.weight, c.classifier.weight)


def test_unknown_model_lists_close_matches():
    with pytest.raises(DDStudyError, match=r"unknown model 'ConvNt' \(did you mean ConvNet"):
        build_model("ConvNt", 3, 10, 32, 0)


def test_too_deep_convnet_and_bad_size_are_clear_errors():
    with pytest.raises(DDStudyError, match="too deep"):
        build_model("ConvNetD6", 3, 10, 32, 0)
    with pytest.raises(DDStudyError, match="supports"):
        build_model("ConvNet", 3, 10, 64, 0)
