"""Customer intelligence pipeline: segments (UMAP + HDBSCAN) and purchase propensity (XGBoost).

Importable without Streamlit. See ``docs/ARCHITECTURE.md`` for the module map.
"""
