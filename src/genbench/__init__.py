"""genbench: train, evaluate and compare deep generative models side by side."""
__version__ = "0.1.0"
