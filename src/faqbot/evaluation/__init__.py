"""Evaluation: the gold set (gold), figures (metrics), fitting on dev (fitting), reports and the
`faqbot eval` command (reports), external data sets through the same pipeline (external).

Imports point one way: reports -> fitting -> metrics -> gold, all of them -> faqbot.retrieval.
"""
