"""Know whether a served model still works: reference profiles, prediction logs, labels, drift reports.

Sits below `pipelines` (training writes the reference profile) and `serving` (the server writes the
prediction log), above `recipe` and `core`.
"""
