"""`make run` / `make stop`: the whole pipeline on this machine, without Docker (see `local_run.stack`)."""
