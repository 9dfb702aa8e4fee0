"""The watch: read metrics from Prometheus, score them on a schedule, export the scores."""
