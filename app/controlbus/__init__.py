"""The ControlBus port and its adapters."""
