"""Caps that keep one hostile record from costing unbounded memory or recursion."""

from __future__ import annotations

MAX_RECORD_BYTES = 4 * 1024 * 1024
"""Longest line (JSON Lines, CSV) or JSON record accepted. A CCC record is about 2 KB;
a PT round at the model's 10,000-result cap is under 1.5 MB, so 4 MiB leaves headroom."""

MAX_DEPTH = 20
"""Deepest JSON nesting accepted inside one record. The domestic shapes nest at most
3 levels (record > history > entry), so 20 is generous and still far below recursion."""

CHUNK_CHARS = 64 * 1024
"""How much a streaming reader pulls from the file at a time."""
