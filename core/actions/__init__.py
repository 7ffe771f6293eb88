"""Use cases: one function per workflow that more than one front end runs, each returning a
typed result. The CLI (:mod:`core.cli`), the background jobs and the pages call these and
format what they return; they hold no step of a workflow of their own.

- :mod:`.training`: train (first run or challenger), retrain, generate the default data,
  draft a spec, check a table;
- :mod:`.scoring`: score a file (a table or a log), drift against a run, backtest;
- :mod:`.campaigns`: build and save a cohort, read a campaign out;
- :mod:`.runs`: promote, roll back, name a segment by hand;
- :mod:`.uploads`: the Admin page's uploads (draft, map, check, train on a table or a log);
- :mod:`.jobs`: start a training or a scoring as a background job, and carry one out;
- :mod:`.views`: what the pages show of a run that takes a computation (read-only).
"""
