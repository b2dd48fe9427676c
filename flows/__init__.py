"""Prefect flows and the `scoreflow` command line."""
