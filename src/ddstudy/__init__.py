"""ddstudy: reproducible dataset-distillation studies (dataset bias; pre-trained models)."""

__version__ = "0.1.0"
