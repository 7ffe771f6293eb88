"""Training and scoring as named steps over the models: training (:mod:`.training`),
scoring a table (:mod:`.scoring`, :mod:`.dask_scoring`), champion and challenger
(:mod:`.champion`)."""
