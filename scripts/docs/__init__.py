"""Examples captured from real runs (capture) and the documents written from them (render)."""
