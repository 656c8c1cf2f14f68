"""Speed benchmarks that print numbers (``python -m photoz benchmark <stage>``).

One module per stage (``simulate``, ``photometry``, ``training``), ``seeds`` (accuracy over seeds) and ``information`` (what the images could add to the fluxes), each with ``run(**kw) -> dict`` and
``main(argv=None)``. Speed targets are checked here and in the rules' ``benchmark:`` files, never by
timed tests.
"""

STAGES = ("simulate", "photometry", "training", "seeds", "information")
