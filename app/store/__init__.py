"""The record store port (plans, allocations, executions, event log) and its adapters.

The store is shared infrastructure, like the ControlBus: WorldService records plans and
allocations in it, the Gateway records executions, both append events to its outbox.
"""
