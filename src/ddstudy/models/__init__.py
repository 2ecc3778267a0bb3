"""Model registry: every network of the reference codebases by name, each with ``forward`` and ``embed``."""

from ddstudy.models.registry import MODELS, build_model, check_model_name, count_parameters, has_batchnorm

__all__ = ["MODELS", "build_model", "check_model_name", "count_parameters", "has_batchnorm"]
