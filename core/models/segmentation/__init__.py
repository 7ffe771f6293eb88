"""Customer segments: a slot of swappable parts, fitted on a sample, every customer assigned.

The parts, each a small module (the way BERTopic passes its reducer and clusterer in):

- :mod:`~core.models.segmentation.reducers`: UMAP (McInnes, Healy & Melville 2018), or none;
- :mod:`~core.models.segmentation.clusterers`: the HDBSCAN parameter search (Campello, Moulavi &
  Sander 2013), KMeans with k by silhouette, a Gaussian mixture with k by BIC;
- :mod:`~core.models.segmentation.assign`: the nearest-neighbour assigner (a customer's segment
  depends only on its own row);
- :mod:`~core.models.segmentation.projection`: the 2-D display projection;
- :mod:`~core.models.segmentation.quality`: Hopkins, silhouettes, DBCV, bootstrap stability, rule
  fidelity;
- :mod:`~core.models.segmentation.methods`: :func:`choose_method`, the one place a
  configured clusterer is picked, how one method's fit is completed, and
  :func:`choose_candidate`, the rule ``method = "auto"`` keeps one fitted method by;
- :mod:`~core.models.segmentation.segmenter`: :class:`Segmenter`, composing them;
- :mod:`~core.models.segmentation.merging`: a cluster below the minimum segment size (in customers)
  merged into its nearest segment;
- :mod:`~core.models.segmentation.profiling`: profiles, persona names, plain-language rules;
- :mod:`~core.models.segmentation.continuity`: matching a new run's segments to the previous
  run's (ids and names that hold across retrains).

How segments are made, chosen and kept: ``docs/design/segmentation.md``; measured figures:
``docs/performance.md``.
Segment ids are 0..k-1 ordered by size in the fitted sample (0 = largest) until
:meth:`Segmenter.relabel` gives them the ids of a previous run's matching segments.
"""
from core.models.segmentation.methods import METHODS, MethodChoice, choose_candidate, choose_method
from core.models.segmentation.quality import hopkins
from core.models.segmentation.segmenter import NotFittedError, Segmenter

__all__ = ["METHODS", "MethodChoice", "NotFittedError", "Segmenter", "choose_candidate", "choose_method", "hopkins"]
