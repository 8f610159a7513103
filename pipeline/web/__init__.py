"""The web front end (``familyhub serve``): server-rendered pages for key workers, coordinators,
managers and the data team, on the same warehouse and access rules as the command line.

Datasette's shape: one module per kind of page (:mod:`~pipeline.web.families`,
:mod:`~pipeline.web.cohort`, :mod:`~pipeline.web.claims`, :mod:`~pipeline.web.feeds`,
:mod:`~pipeline.web.review`), Jinja2 templates extending one ``base.html`` (autoescaped),
and every access decision asked of one function, :func:`pipeline.web.access.allowed`, which
PostgreSQL row-level security backs: each request runs as the user's own database role.
"""
