"""The models and what measures and explains them: preprocessing (:mod:`.features`),
segmentation (:mod:`.segmentation`: reducer, clusterers, assigner, projection, quality,
profiles and names, continuity), propensity (:mod:`.propensity`), the BTYD peers
(:mod:`.btyd`), evaluation (:mod:`.evaluation`) and explanation (:mod:`.explain`,
:mod:`.fastshap`). Functions of data and parameters: no file is read or written here."""
