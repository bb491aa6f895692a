"""nn.init (filled in by the nn issue)."""
