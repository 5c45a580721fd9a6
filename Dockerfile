# syntax=docker/dockerfile:1
# The andelstal service: `docker build -t andelstal .` then
# `docker run -e ANDELSTAL_SECRET=$(openssl rand -hex 32) -p 8000:8000 andelstal`
# (production settings refuse to start without a secret; add -e DATABASE_URL=postgresql://... for PostgreSQL).
# BASE is any image with Python 3.11 (with venv) as `python` and useradd: where Docker Hub cannot be reached,
# scripts/build-image makes one from Debian's packages.

ARG BASE=python:3.11-slim
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md LICENSE* ./
COPY solver ./solver
COPY service ./service
RUN pip install ".[postgres]" && andelstal shares --out /tmp/check.csv

FROM ${BASE} AS runtime
# Pango and a font for the decision document's PDF (WeasyPrint)
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz-subset0 fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin andelstal \
    && mkdir -p /srv/var && chown -R andelstal /srv
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 ANDELSTAL_ENV=production \
    DATABASE_URL=sqlite:////srv/var/andelstal.db NUMBA_CACHE_DIR=/srv/var/numba MPLCONFIGDIR=/srv/var/matplotlib
WORKDIR /srv
USER andelstal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["andelstal", "serve", "--host", "0.0.0.0", "--port", "8000"]
