"""scoreflow pipeline stages: plain typed functions, no Prefect required."""
