"""Engines run the per-conversation pipeline (`zuoxi.pipeline`) at some scale: `local` over files in
one process, `dask` over shards on a Dask cluster, `live` one turn at a time while a conversation runs."""
