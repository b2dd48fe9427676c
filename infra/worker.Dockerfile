# A Prefect worker (CPU) with scoreflow: the embedded composer, S3 storage, Dask.
#   docker build -f infra/worker.Dockerfile -t scoreflow-worker .
#   docker run -e PREFECT_API_URL=http://prefect:4200/api scoreflow-worker
# It takes runs from the `scoreflow` work pool's `cpu` queue (infra/prefect.yaml).
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg musescore-general-soundfont \
    && rm -rf /var/lib/apt/lists/*
COPY . /src/scoreflow
RUN pip install --no-cache-dir "/src/scoreflow[aws,dask]" && rm -rf /src/scoreflow \
    && scoreflow --version
ENV SCOREFLOW_WORK=/var/lib/scoreflow/work SCOREFLOW_CACHE_DIR=/var/lib/scoreflow/cache
CMD ["prefect", "worker", "start", "--pool", "scoreflow", "--work-queue", "cpu"]
