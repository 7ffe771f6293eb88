"""Customer segments: a slot of swappable parts, fitted on a sample, every customer assigned.

The parts, each a small module (the way BERTopic passes its reducer and clusterer in):

- :mod:`~core.segmentation.reducers`: UMAP (McInnes, Healy & Melville 2018), or none;
- :mod:`~core.segmentation.clusterers`: the HDBSCAN parameter search (Campello, Moulavi &
  Sander 2013), KMeans with k by silhouette, a Gaussian mixture with k by BIC;
- :mod:`~core.segmentation.assign`: the nearest-neighbour assigner (a customer's segment
  depends only on its own row);
- :mod:`~core.segmentation.projection`: the 2-D display projection;
- :mod:`~core.segmentation.quality`: Hopkins, silhouettes, DBCV, bootstrap stability, rule
  fidelity;
- :mod:`~core.segmentation.segmenter`: :class:`Segmenter`, composing them,
  :func:`choose_method`, the one place a configured clusterer is picked, and
  :func:`choose_candidate`, the rule ``method = "auto"`` keeps one fitted method by.

How segments are made, chosen and kept, with measured figures: ``docs/segmentation.md``.
Segment ids are 0..k-1 ordered by size in the fitted sample (0 = largest) until
:meth:`Segmenter.relabel` gives them the ids of a previous run's matching segments.
"""
from core.segmentation.quality import hopkins
from core.segmentation.segmenter import METHODS, MethodChoice, NotFittedError, Segmenter, choose_candidate, choose_method

__all__ = ["METHODS", "MethodChoice", "NotFittedError", "Segmenter", "choose_candidate", "choose_method", "hopkins"]
