"""Coverage-guided fuzzing (atheris) of the code that reads untrusted bytes: image decoding and upload parsing.

``test_fuzz.py`` runs each harness for a few thousand inputs in a subprocess; run them longer by hand with
``python -m tests.fuzz.fuzz_decode -max_total_time=600`` (see each harness's docstring).
"""
