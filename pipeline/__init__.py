"""The pipeline core: a refresh and a drift check from configuration to warehouse, no Prefect.

Produces, through `pipeline.refresh.run_refresh`, one published refresh: its
stages (`pipeline.stages`, `pipeline.profile`, `pipeline.report`) wire the pure
transforms of `transforms/` between the sources and the warehouse. The same
functions run as Prefect tasks under a flow run (`flows/`) or as plain calls.
"""
