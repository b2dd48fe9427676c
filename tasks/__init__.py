"""scoreflow pipeline stages: plain typed functions, no Prefect required."""

__version__ = "0.1.0"
