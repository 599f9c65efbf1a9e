# The Airflow image of the demo stack: the official image plus this project's Python requirements and its
# distribution (the `lyve_influxdb` connection type), the same package `make run` installs.
# dags/, include/ and plugins/ are mounted by docker-compose.yaml, so code changes need no rebuild.
FROM apache/airflow:3.3.2

COPY requirements.txt /tmp/requirements.txt
# Pinning apache-airflow to the image's own version keeps pip from up- or downgrading Airflow itself.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt
COPY --chown=airflow:0 pyproject.toml setup.py /tmp/lyve-audit-logs/
COPY --chown=airflow:0 lyve_audit_provider /tmp/lyve-audit-logs/lyve_audit_provider
RUN pip install --no-cache-dir --no-deps /tmp/lyve-audit-logs
