"""Data stage: clean sources, bias attributes, colour and corruption biases, building and loading variants."""
