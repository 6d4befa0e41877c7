# The claims image: `claims worker` and `claims console` for docker-compose.temporal.yml.
# Built from this repository; the base is pinned so a rebuild gets the same Python.
FROM python:3.11.13-slim-bookworm

# The key ring must belong to the user the processes run as (runtime.keyring refuses a
# ring owned by anyone else): build with CLAIMS_UID=$(id -u) to match the ring's owner.
ARG CLAIMS_UID=1000

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    CLAIMS_DATA_DIR=/data \
    CLAIMS_APPROVERS_FILE=/app/examples/approvers.toml \
    CLAIMS_RECORDS_FILE=/app/examples/records.json \
    CLAIMS_LOG_FORMAT=json

WORKDIR /app
COPY . /app
RUN pip install /app \
    && useradd --uid "${CLAIMS_UID}" --user-group --no-create-home --home-dir /data claims \
    && mkdir -p /data \
    && chown claims:claims /data

USER claims
# A new named volume mounted here starts with this directory's owner: the claims user.
VOLUME ["/data"]
CMD ["claims", "worker"]
