"""Reports over many runs: grouping, seed statistics, tables and the standard figure."""
