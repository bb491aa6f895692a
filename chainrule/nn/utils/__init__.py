"""nn.utils (filled in by the nn issue)."""
