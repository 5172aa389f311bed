"""Executors: run a plan's runs locally (in this process) or on a Slurm cluster (submitit)."""
