"""One module per revision, ``NNNN_what.py``; how to add one: :mod:`pipeline.warehouse.schema`."""
