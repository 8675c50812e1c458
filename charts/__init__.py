"""Charts drawn as SVG on the server, for pages of any app (a leaf: it imports no app)."""
