"""Ranking metrics the methods report and the reporting layer reuses: rank correlations
(:mod:`.ranking`), the precision of a tau (:mod:`.precision`) and the bias diagnostics beside it
(:mod:`.diagnostics`)."""
