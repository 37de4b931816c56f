# The stream-al worker image used by docker-compose.yml (CPU only).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY stream_al ./stream_al
RUN pip install --upgrade pip && pip install .
# Distil the static embedder once at build time so workers start fast and offline.
RUN python -c "from stream_al.config import EmbedderSettings; from stream_al.embed import make_embedder; make_embedder(EmbedderSettings(name='static', cache_dir='/opt/stream-al'))"
ENV STREAM_AL_EMBEDDER__CACHE_DIR=/opt/stream-al
EXPOSE 9464
ENTRYPOINT ["stream-al"]
CMD ["worker", "--metrics-port", "9464"]
