"""Process runtime: serving under uvicorn, graceful shutdown, logging, component lifecycles."""
