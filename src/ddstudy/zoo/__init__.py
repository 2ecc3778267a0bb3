"""Pre-trained model (PTM) zoos: training with per-epoch checkpoints, safe storage, selection."""
