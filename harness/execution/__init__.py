"""Execution: run an atomic's lifecycle on a target inside the lab's declared scope."""
