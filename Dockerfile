# The one observe image: every service and tool (`observe ship`, `observe export ...`, `observe traces ...`).
# Two stages: the first builds a virtualenv, the second is python-slim plus that virtualenv, run as a
# non-root user. No compiler, pip cache or source tree reaches the final stage.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, so a code change does not reinstall them: exactly the locked versions (requirements.txt,
# written by `make lock`) that `make test` tested. Every dependency ships binary wheels.
COPY pyproject.toml README.md requirements.txt ./
RUN python -m venv /opt/observe \
 && /opt/observe/bin/pip install --only-binary=:all: -r requirements.txt
COPY observe ./observe
COPY exporters ./exporters
# The CRI fast path in C (observe/logs/cri_native.c, docs/logs.md "Which path runs"): plain C without Python headers,
# built by zig cc, a C compiler that PyPI ships as a wheel, in a throwaway virtualenv. -mcpu=baseline: the image runs
# on any CPU of its architecture, not only the builder's.
RUN python -m venv /tmp/zig \
 && /tmp/zig/bin/pip install --only-binary=:all: ziglang==0.15.2 \
 && /tmp/zig/bin/python -m ziglang cc -mcpu=baseline -std=c99 -O2 -shared -fPIC \
      -o observe/logs/_cri_native.so observe/logs/cri_native.c \
 && rm -rf /tmp/zig
# The templates `observe render` and `observe kibana import` read (OBSERVE_TEMPLATES points at them).
COPY dashboards /opt/observe/share/dashboards
COPY alerts /opt/observe/share/alerts
RUN /opt/observe/bin/pip install --no-deps . \
 && /opt/observe/bin/python -m compileall -q /opt/observe/lib \
 && /opt/observe/bin/observe --version \
 && /opt/observe/bin/python -c "from observe.logs import cri_native; assert cri_native.AVAILABLE, 'no C fast path'"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="observe" \
      org.opencontainers.image.description="Logs, cluster metrics, dashboards, alerts and traces for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode is compiled at build time: the root filesystem is read-only in the chart.
ENV PATH=/opt/observe/bin:$PATH \
    OBSERVE_TEMPLATES=/opt/observe/share \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/observe /opt/observe
# 65532 is the conventional "nonroot" uid; the chart's shipper alone overrides it (see values.yaml).
USER 65532:65532
WORKDIR /tmp
EXPOSE 9600
ENTRYPOINT ["observe"]
CMD ["--help"]
