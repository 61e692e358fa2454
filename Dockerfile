# The kumo image: API server (`kumo serve`) and runner (`kumo worker`) share it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/kumo
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY storage ./storage
COPY jobs ./jobs
COPY api ./api
RUN pip install '.[postgres]' && useradd --create-home --uid 10001 kumo \
    && mkdir -p /var/lib/kumo/home /var/lib/kumo/data && chown -R kumo /var/lib/kumo
USER kumo
EXPOSE 8080
CMD ["kumo", "serve", "--host", "0.0.0.0", "--port", "8080"]
