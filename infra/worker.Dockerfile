# A Prefect worker image with scoreflow installed (for infra/prefect.yaml's work pool).
#   docker build -f infra/worker.Dockerfile -t scoreflow-worker .
#   docker run -e PREFECT_API_URL=http://prefect:4200/api scoreflow-worker
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY . /src/scoreflow
RUN pip install --no-cache-dir "/src/scoreflow[aws]" && rm -rf /src/scoreflow
CMD ["prefect", "worker", "start", "--pool", "scoreflow"]
