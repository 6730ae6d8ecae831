"""The HTTP edge every router shares: error bodies, auth, limits, middleware, ``/metrics``."""
