"""Training-data exports written in the background (labeling/exports/EXPORTS.md)."""
