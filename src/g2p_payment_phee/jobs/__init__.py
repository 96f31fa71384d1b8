"""Long work as jobs: task functions, the in-process runner, and (scale mode) the Celery app."""
