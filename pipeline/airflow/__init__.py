"""The Airflow adapter: the only package outside dags/ that imports Airflow."""
