# One image recipe for every Latchkey service, chosen with the build argument SERVICE:
#
#   docker build --build-arg SERVICE=token-registry -t latchkey/token-registry .
#
# SERVICE is the folder under services/ (token-registry, auth, portal-router); the case in
# the builder stage maps it to the module `python -m` runs. The service listens on all
# interfaces (LATCHKEY_HOST=0.0.0.0) on its own port (LATCHKEY_REGISTRY_PORT 9006,
# LATCHKEY_AUTH_PORT 9003, LATCHKEY_ROUTER_PORT 9005); every other setting comes from
# LATCHKEY_* variables at run time (see .env.example).
#
# No HEALTHCHECK here on purpose: docker-compose.yml (and any orchestrator) probes /readyz
# with the image's own Python, since the slim image has no curl, and knows the port.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
COPY constraints.txt ./
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
RUN /opt/venv/bin/pip install -c constraints.txt ./libs/common "./services/${SERVICE}"

# SERVICE -> module. The launcher is written into the venv, the only thing the final stage
# copies; the build fails here, not at run time, on an unknown SERVICE or a missing module.
RUN case "${SERVICE}" in \
      token-registry) module=latchkey.registry ;; \
      auth) module=latchkey.auth ;; \
      portal-router) module=latchkey.portal ;; \
      *) echo "SERVICE must be token-registry, auth or portal-router, not '${SERVICE}'" >&2; \
         exit 1 ;; \
    esac \
 && /opt/venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1] + '.__main__') is None)" "${module}" \
 && printf '#!/bin/sh\nexec /opt/venv/bin/python -m %s "$@"\n' "${module}" \
      > /opt/venv/bin/latchkey-service \
 && chmod 0755 /opt/venv/bin/latchkey-service


FROM ${PYTHON_IMAGE}

ARG SERVICE
LABEL org.opencontainers.image.title="latchkey-${SERVICE}" \
      org.opencontainers.image.description="Latchkey ${SERVICE}"

RUN groupadd --system --gid 10001 latchkey \
 && useradd --system --uid 10001 --gid latchkey --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin latchkey

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LATCHKEY_HOST=0.0.0.0

USER 10001:10001
CMD ["latchkey-service"]
