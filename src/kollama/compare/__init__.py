"""`kollama compare`: several models answer the same prompt suite several times; metrics and a report."""
