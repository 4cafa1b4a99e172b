"""Which kernel rules the model reproduces, and which of them programs reach.

``sites``: the registry of rule sites (data: id, kernel file and line at a
commit, what the rule is).  ``collect``: run scenarios or programs on the
model and record the sites each reaches.  ``annotate``: a kernel source file
with each line marked reached or not, by which scenarios (text and HTML).
"""
