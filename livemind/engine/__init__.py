"""The engine: model catalog, pool and RAM guard, scheduler, the expert runner, and the backends that run models.

Nothing here knows about councils; the council asks the runner for one expert's answer at a time.
"""
