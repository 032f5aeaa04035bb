# Builds the pysandbox wheel (compiling the Cython/cffi extensions and the
# static helpers: the ptrace stub, the gofer's serving loop) and an image holding both binaries: `pysandbox` (the OCI
# runtime) and `containerd-shim-pysandbox-v2` (the containerd shim).
#
#   docker build -t pysandbox .
#   docker run --rm pysandbox pysandbox --version
#
# To install on a host, copy the wheel out of the image
# (docker run --rm -v "$PWD:/out" pysandbox sh -c 'cp /wheels/*.whl /out') and
# `pip install` it; containerd finds the shim on its PATH.

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN pip wheel --no-deps -w /wheels .

FROM python:3.11-slim-bookworm
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
 && python -m runtime.importbundle \
 && pysandbox --version \
 && containerd-shim-pysandbox-v2 -v
ENTRYPOINT []
CMD ["pysandbox", "--help"]
