# A Prefect worker for neural cues (musicgen, stable-audio, ace-step) on an NVIDIA GPU.
#   docker build -f infra/gpu-worker.Dockerfile -t scoreflow-gpu-worker .
#   docker run --gpus all -e PREFECT_API_URL=http://prefect:4200/api scoreflow-gpu-worker
# It takes runs from the `scoreflow` work pool's `gpu` queue only (infra/prefect.yaml), so
# neural cues never land on a CPU worker. Weights are not in the image: mount them and
# name them in the run's config (pipeline.model), e.g. -v /models:/models:ro.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ffmpeg \
       musescore-general-soundfont \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/scoreflow
ENV PATH=/opt/scoreflow/bin:$PATH
COPY . /src/scoreflow
# torch==2.13.0 (the neural extra's pin) from the registry is the CUDA build on this image
RUN pip install --no-cache-dir "/src/scoreflow[aws,dask,neural]" && rm -rf /src/scoreflow \
    && scoreflow --version
ENV SCOREFLOW_WORK=/var/lib/scoreflow/work SCOREFLOW_CACHE_DIR=/var/lib/scoreflow/cache
CMD ["prefect", "worker", "start", "--pool", "scoreflow", "--work-queue", "gpu"]
