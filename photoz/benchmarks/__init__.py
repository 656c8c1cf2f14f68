"""Speed benchmarks that print numbers (``python -m photoz benchmark <stage>``).

One module per stage (``simulate``, ``photometry``, ``training``) and ``seeds`` (accuracy over seeds), each with ``run(**kw) -> dict`` and
``main(argv=None)``. Speed targets are checked here and in the rules' ``benchmark:`` files, never by
timed tests.
"""

STAGES = ("simulate", "photometry", "training", "seeds")
