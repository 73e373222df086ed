"""Views of data and results: matplotlib (always) and holoviews (notebooks); imported lazily.

Modules: :mod:`~xpcsnb.plot.twotime` (C2 and two-time fits), :mod:`~xpcsnb.plot.g2`
(one-time g2 per q with fits and residuals, Γ(q) with its rate law),
:mod:`~xpcsnb.plot.xsvs` (photon statistics and contrast).
"""
