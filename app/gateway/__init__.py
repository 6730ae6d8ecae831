"""Gateway: capability bits, WorldService client, order conversion and the event relay."""
