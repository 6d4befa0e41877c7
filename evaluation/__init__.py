"""Evaluation of the agent on decided claims: where the cases come from.

`dataset` reads a labelled dataset file, `from_history` turns a finished review's history
into a case, and `loading` is the activity that feeds the evaluation workflow a page of
cases at a time from either, or from a list query over finished reviews.
"""
