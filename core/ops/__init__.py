"""Operations: background jobs (:mod:`.jobs`), the admin door (:mod:`.door`) and
monitoring (:mod:`.monitoring`: drift and backtests)."""
