"""Use cases: what more than one front end runs."""
