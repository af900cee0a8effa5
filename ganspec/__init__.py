"""ganspec: a declarative experiment engine for Generative Adversarial Networks."""

__version__ = "0.1.0"
