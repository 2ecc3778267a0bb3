"""Evaluation: accuracies of a trained network, overall and on bias-aligned / bias-conflicting samples."""
