"""The evaluate stage: what a trained model scores (`run`), what an evaluation records (`outputs`, light: no torch),
and the metrics (`metrics/`)."""
