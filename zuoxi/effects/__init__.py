"""What the skills are worth (issue 23): each behaviour's association with the customer's outcome,
raw and within strata, and training's effect on the agent (difference in differences).

`behaviours` computes the effects from observations, `training` the before/after comparison of
drilled agents with agents who did not drill, `stats` the intervals; the store
(`zuoxi.store.effects`) turns stored conversations into observations within a user's scope.
"""
