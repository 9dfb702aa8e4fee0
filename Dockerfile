# syntax=docker/dockerfile:1
# rarewatch images. Targets:
#   serve (the default, last stage): the API on ONNX Runtime alone, no TensorFlow; non-root.
#   train: the full CLI with TensorFlow and Ray, to train models (or a fleet) into a volume.
# Build: docker build -t rarewatch .            docker build --target train -t rarewatch:train .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
# HOME=/tmp: the service user has no home; libraries that keep a cache or an id there
# (Keras, ONNX Runtime) then write to /tmp, a tmpfs under the compose file's read-only root
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# /models belongs to the service user, so a fresh named volume mounted there is writable by it.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent rarewatch \
    && mkdir /models \
    && chown rarewatch:rarewatch /models

# One virtual environment per target, built from the same sources.
FROM base AS sources
WORKDIR /build
COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
RUN python3 -m venv /opt/rarewatch

FROM sources AS serve-deps
RUN /opt/rarewatch/bin/pip install --no-compile . \
    && find /opt/rarewatch -name "__pycache__" -prune -exec rm -rf {} +

# the train image runs train-fleet too (Ray, the `fleet` extra); the serve image has neither
FROM sources AS train-deps
RUN /opt/rarewatch/bin/pip install --no-compile ".[train,fleet]"

FROM base AS train
COPY --from=train-deps /opt/rarewatch /opt/rarewatch
ENV PATH=/opt/rarewatch/bin:$PATH \
    RAREWATCH_MODEL_DIR=/models
WORKDIR /data
USER 10001:10001
ENTRYPOINT ["rarewatch"]
CMD ["--help"]

FROM base AS serve
COPY --from=serve-deps /opt/rarewatch /opt/rarewatch
ENV PATH=/opt/rarewatch/bin:$PATH \
    RAREWATCH_MODEL_DIR=/models \
    RAREWATCH_HOST=0.0.0.0 \
    RAREWATCH_PORT=8000
WORKDIR /srv
USER 10001:10001
EXPOSE 8000
# No curl in the image: Python's own urllib asks /readyz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RAREWATCH_PORT', '8000') + '/readyz', timeout=2)"]
CMD ["rarewatch", "serve"]
