"""What reaches the marketing tools and comes back from them: the playbook (matrix, bands,
actions, cohorts, holdouts; :mod:`.playbook`), exports (:mod:`.exports`), the activation
database (:mod:`.database`) and the campaign readout (:mod:`.readout`)."""
