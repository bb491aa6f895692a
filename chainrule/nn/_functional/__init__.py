"""Implementation modules of ``chainrule.nn.functional``, one per family."""
