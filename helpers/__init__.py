"""Smudge: helpers for the notebook course on adversarial examples.

One module per idea; importing this package imports nothing heavy and has no
side effects. Import the module you need, e.g. ``from helpers import data, models``.
"""
__version__ = "0.1.0"
