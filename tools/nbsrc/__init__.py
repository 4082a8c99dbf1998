"""Cell sources of the tutorial notebooks, one module per notebook (see tools/make_notebooks.py)."""
