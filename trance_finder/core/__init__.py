"""Headless engine: audio, features, backbones, training, index, evaluation. Never imports Qt."""
