# bench.py is a script run by hand (see its docstring), never a test.
collect_ignore = ["bench.py"]
