# The Airflow image of the demo stack: the official image plus this project's Python requirements.
# dags/, include/ and plugins/ are mounted by docker-compose.yaml, so code changes need no rebuild.
FROM apache/airflow:3.3.2

COPY requirements.txt /tmp/requirements.txt
# Pinning apache-airflow to the image's own version keeps pip from up- or downgrading Airflow itself.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt
