"""`make bench`: throughput and memory of the parse → stage → load path against its floors, in one table."""
