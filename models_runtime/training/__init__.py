"""Trainers for the detector and the embedder; both read the platform's export formats."""
