"""What comes in: the spec of a table, reading and validating tables, drafting a spec, the
transaction log (its spec, events, feature SQL, snapshots, Spark) and the generators of the
embedded default data. Nothing here fits a model or reads a run."""
