"""Versioned runs on disk.

Layout under ``artifacts_dir``::

    runs/<run_id>/          one directory per run, written once, never modified
        manifest.json       run id, time, data set, data hash, spec, settings, versions, timings
        scoring.json        feature names, training categories, decile cut points, segment names
        xgboost.json        XGBoost model (its own JSON format, ``Booster.save_model``)
        baseline.skops      logistic-regression pipeline (scikit-learn, as a skops file)
        segmenter.json      the fitted segmenter's parameters (:class:`core.runs.results.SegmenterState`)
        segmenter_preprocessor.skops   its scaling pipeline (skops)
        segmenter_reference.npz        its assignment's voters (NumPy arrays, no pickles)
        (every JSON file holds one typed result of :mod:`core.runs.results`)
        metrics.json        test metrics, decile tables, curves, segmentation info
        profiles.json       segment profiles and persona names
        importance.csv      mean |SHAP| per feature
        shap_points.parquet SHAP values of a sample of customers (the top features), for display
        scored.parquet      the scored training table
        features.parquet    its input features after validation (same rows and order), for
                            cohort filters and colouring the projection
        matrix.parquet      propensity-by-segment matrix
        projection.parquet  2-D UMAP sample for display
        quality.json        data-quality summary
        continuity.json     matching of the segments to the previous run's, transitions
    CURRENT                 text file holding the default data set's current run id (what
                            every page and command shows unless told otherwise)
    current.json            {data set: run id}: every data set's current run; training or
                            promoting a run of another table changes its entry only
                            (:mod:`core.runs.current`)
    .training.lock          held (an OS file lock) while a run is being trained
    champions.jsonl         append-only log of every change of a current run (train,
                            promote, rollback), read by :func:`champion_history`
    monitoring/<run_id>/    drift and backtest reports on that run (JSON, one per check)
    display_names.json      segment names set by hand, per data set and segment id; they
                            win over the automatic names and carry across retrains (ids do)
    uploads/                tables uploaded in the app, mapped and validated, as Parquet

Every run is written by :func:`save_run` alone (the training steps touch no disk); its
manifest carries :data:`core.runs.results.RUN_FORMAT`, and a run of another format is refused
in one line that says how to retrain.

A run is written into ``runs/.tmp-<run_id>`` and renamed into place only when every
file is written (``os.rename`` is atomic on one filesystem); ``CURRENT`` is then replaced
atomically (``os.replace``). A failed training leaves the current run untouched.

A run holds no pickle: every part loads without executing code (:mod:`core.runs.safeformat`),
and a run folder holding any file a run does not hold (a ``.joblib``, say) is refused
before anything in it is read (:func:`load_run`).
"""
