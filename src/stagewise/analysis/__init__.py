"""Error diagnosis (perception vs reasoning) and trace-length analysis of evaluation outputs."""
