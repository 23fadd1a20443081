"""Outbound callback campaigns (issue 8, seed 001): the campaign definition, call lists,
assignment and callbacks, dispositions, and the analytics of why calls succeeded.

One module per concern: models (types), campaign (YAML definition, script), calllist (import),
vault (the phone number), assign (agents, callbacks, queues), dispositions (attempts, linking recorded
calls to the outbound scorecard), analytics (the report), demo (the generated campaign), cli.
"""
