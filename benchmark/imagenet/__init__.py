"""ImageNet searches and retraining: methods, presets, training utilities, the driver and its CLI."""
