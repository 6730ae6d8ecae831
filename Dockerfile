# Worldgate: one image for every role. Which services a container runs, and on which
# store and ControlBus, comes from a config file (WORLDGATE_CONFIG) or WORLDGATE__* variables.
# See docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/worldgate

# Dependencies first, so a code change does not reinstall them: install the package with
# its server extra from a stub, then remove the stub and keep the dependencies.
COPY pyproject.toml README.md LICENSE ./
RUN mkdir app && echo '__version__ = "0"' > app/__init__.py \
    && pip install '.[server]' \
    && pip uninstall -y worldgate \
    && rm -rf app build *.egg-info

# The package itself, installed as a wheel would be: the embedded defaults
# (app/default.toml) travel inside it, so no source folder is needed at run time.
COPY app ./app
RUN pip install --no-deps . \
    && rm -rf app build *.egg-info \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin worldgate \
    && mkdir /data \
    && chown worldgate:worldgate /data

# Single-container defaults: listen on every interface, SQLite on the /data volume,
# JSON logs. A split deployment overrides the store and bus in its config file.
ENV WORLDGATE__SERVER__HOST=0.0.0.0 \
    WORLDGATE__SERVER__PORT=8000 \
    WORLDGATE__SERVER__LOG_FORMAT=json \
    WORLDGATE__STORE__SQLITE_PATH=/data/worldgate.sqlite3

VOLUME ["/data"]
USER worldgate
EXPOSE 8000

# SIGTERM drains WebSockets (close 1001), finishes in-flight requests within
# server.shutdown_timeout, flushes the outbox and exits 0. Give `docker stop` more time
# than that (e.g. `docker stop -t 30`).
STOPSIGNAL SIGTERM
# `worldgate ready` reads the same configuration as `serve` (WORLDGATE_CONFIG, WORLDGATE__*),
# so the probe follows server.port and server.roles wherever they are set.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["worldgate", "ready"]

# Exec form: worldgate is PID 1 and receives SIGTERM itself (no shell in between).
CMD ["worldgate", "serve"]
