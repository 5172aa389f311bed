"""Metrics: Fréchet distance (FLD/FID), Coverage/Density, low-dimensional mode and drift measures."""
