"""The worker scheduler (core/workers.py): independent calls in two worker processes, longest first."""
import numpy as np
import pytest

from core import workers


def test_tasks_start_longest_first_in_two_workers_and_come_back_in_call_order():
    from core.models.segmentation import reducers

    # the segmenter's jobs at 12,000 rows: the main fit, 5 refits of 6,000, the 2-D projection
    X12, X6 = np.zeros((12_000, 1)), np.zeros((6_000, 1))
    jobs = [(X12, 5, 15, 0.0, 200, 0)] + [(X6, 5, 15, 0.0, 200, s) for s in range(1, 6)] + [(X12, 2, 15, 0.1, None, 6)]
    assert [reducers.job_cost(j) for j in jobs] == [2_400_000] + [1_200_000] * 5 + [2_400_000]
    assert workers.lpt_order([reducers.job_cost(j) for j in jobs]) == [0, 6, 1, 2, 3, 4, 5]
    assert workers.lpt_order([3, 3, 2, 2, 2]) == [0, 1, 2, 3, 4] and workers.lpt_order([1, 5, 2]) == [1, 2, 0]
    assert reducers.job_cost((np.zeros((100, 1)), 2, 15, 0.1, None, 0)) == 50_000   # umap's 500 epochs
    calls = [(pow, (b, 2)) for b in range(6)]
    assert workers.run_tasks(calls, [1, 9, 3, 3, 7, 0], 2) == [0, 1, 4, 9, 16, 25]   # two workers
    assert workers.run_tasks(calls, [0] * 6, 1) == [0, 1, 4, 9, 16, 25]
    with workers.Tasks(calls, 2, order=[5, 4, 3, 2, 1, 0]) as tasks:
        assert tasks.parallel and tasks.result(3) == 9
        assert tasks.run_batches(sorted, [[3, 1], [2]]) == [1, 3, 2]
        [tasks.result(i) for i in range(6)]
        assert tasks.idle()
    with workers.Tasks(calls, 1) as tasks:   # here, each call when its result is asked for
        assert not tasks.parallel and tasks.idle() and tasks.result(4) == 16 and list(tasks._results) == [4]
    with pytest.raises(ZeroDivisionError):   # a worker's error reaches the caller
        with workers.Tasks([(divmod, (1, 0)), (pow, (2, 2))], 2) as tasks:
            tasks.result(0)
