"""Side-by-side timings of chainrule against PyTorch (run as scripts, not tests)."""
