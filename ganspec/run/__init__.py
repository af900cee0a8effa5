"""The run stage: a run directory, the training loop and its observers (display, logs, images)."""
