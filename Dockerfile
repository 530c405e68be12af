# BuildWatch production image: gunicorn + WhiteNoise for the web, the same image runs celery worker/beat.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The app runs from /app (templates/, static/ live next to the packages), ahead of site-packages.
    PYTHONPATH=/app \
    BUILDWATCH_VAR_DIR=/app/var

WORKDIR /app
RUN useradd --create-home --uid 10001 buildwatch

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY buildwatch/ buildwatch/
COPY accounts/ accounts/
COPY pushes/ pushes/
COPY notifications/ notifications/
RUN pip install .

# .dockerignore leaves the fake Treeherder (fakeherder/) out; fail the build if it ever slips in.
COPY . .
RUN test ! -e fakeherder || { echo "fakeherder/ must not be in the production image" >&2; exit 1; }
# Hashed, compressed static files for WhiteNoise (settings only need a key to load).
RUN DEBUG=0 SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p var && chown -R buildwatch:buildwatch var

USER buildwatch
EXPOSE 8000
# Threaded workers, as docker-compose.yml's web: a request waiting on Treeherder holds a thread, not a process.
CMD ["gunicorn", "buildwatch.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "8", \
     "--timeout", "60", "--access-logfile", "-"]
