# syntax=docker/dockerfile:1
# The kubeasset operator image, and the base image for code location images (see the README, "Writing a code
# location image"). Two stages: the builder turns the repository into wheels and installs them into a virtual
# environment; the final image is python:3.11-slim plus that one folder, run as a non-root numeric user.
#
#   docker build -t kubeasset:0.1.0 .
#
# The paths are build arguments only so that tests/unit/packaging/test_dockerfile.py can replay the builder's
# steps in a temporary folder; there is no reason to change them for a real build.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG VENV=/opt/kubeasset

FROM ${PYTHON_IMAGE} AS builder
ARG VENV
ARG WHEELS=/wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Only what the distribution is made of (.dockerignore keeps the rest of the context out).
COPY pyproject.toml README.md ./
COPY operator/ operator/
# Every dependency as a wheel first: the final install then needs no index and no compiler, and a
# dependency without a wheel for this platform fails here, in the builder, not in the final image.
RUN python -m pip wheel --wheel-dir "${WHEELS}" . \
 && python -m venv "${VENV}" \
 && "${VENV}/bin/python" -m pip install --no-index --find-links "${WHEELS}" kubeasset \
 && "${VENV}/bin/python" -m kubeasset.controller --help > /dev/null \
 && "${VENV}/bin/python" -m kubeasset.runner --help > /dev/null

FROM ${PYTHON_IMAGE}
ARG VENV
LABEL org.opencontainers.image.title="kubeasset" \
      org.opencontainers.image.description="Dagster-style data-asset pipelines on Kubernetes: the operator, and the base of code location images" \
      org.opencontainers.image.licenses="Apache-2.0"
# The same path as in the builder: a virtual environment's scripts name their interpreter by absolute path.
COPY --from=builder ${VENV} ${VENV}
ENV PATH="${VENV}/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Code location images copy their module here; the runner imports it from the working directory.
WORKDIR /app
# Numeric, so that the kubelet can verify runAsNonRoot; 65532 is the "nonroot" user of distroless images.
# The virtual environment stays owned by root: the running process cannot change its own code.
USER 65532:65532
ENTRYPOINT ["python", "-m", "kubeasset.controller"]
# Without arguments the controller watches every namespace; the Helm chart passes its own arguments.
CMD ["--all-namespaces"]
