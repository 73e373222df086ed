"""Views of data and results: matplotlib (always) and holoviews (notebooks); imported lazily."""
