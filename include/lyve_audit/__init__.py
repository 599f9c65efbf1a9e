"""Lyve Cloud audit logs (S3 API, IAM, Console) into InfluxDB: the Airflow-free core of the `lyve_audit_logs` DAG."""
