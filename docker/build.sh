#!/usr/bin/env bash
# Build the serving image `nutrition-predictor:serve` on a machine without a container registry:
#   bash docker/build.sh [TAG]
# 1. dockerd is started if it is not running (no container network: --bridge=none --iptables=false);
# 2. a Debian base image is made with debootstrap + `docker import` unless BASE names one that exists
#    (with a registry: BASE=python:3.11-slim bash docker/build.sh);
# 3. the package and its base (serving) dependencies are fetched as wheels into a wheelhouse, on the host;
# 4. the shipped model (or RUN=<run folder>) is exported to ONNX by the host's training install;
# 5. `docker build --network=none`: nothing is fetched during the build;
# 6. what the build leaves untagged is removed, so that rebuilding does not fill the disk: its build stage (about 1 GB)
#    and the image of the same tag it replaced, unless a container or another image still uses it.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-nutrition-predictor:serve}
BASE=${BASE:-nutrition-predictor-base:bookworm}
CTX=${CTX:-build/docker}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PY=${PYTHON:-python3}                   # the host's Python with the training install (it exports the model)

# What this needs, named at once (not after a minute of waiting for a dockerd that is not installed).
MISSING=""
for tool in docker dockerd; do command -v "$tool" >/dev/null || MISSING="$MISSING $tool"; done
docker image inspect "$BASE" >/dev/null 2>&1 || command -v debootstrap >/dev/null || MISSING="$MISSING debootstrap"
if [ -n "$MISSING" ]; then
  echo "docker/build.sh needs:$MISSING (Debian: apt-get install docker.io debootstrap; see the README, \"Container\")" >&2; exit 1
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd (no bridge, no iptables)"
  DRIVER=overlay2; grep -q overlay /proc/filesystems || DRIVER=vfs
  nohup dockerd --bridge=none --iptables=false --ip-masq=false --storage-driver="$DRIVER" >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /tmp/dockerd.log" >&2; exit 1; }
fi

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  echo "making the base image $BASE with debootstrap ($MIRROR)"
  ROOTFS=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOTFS" "$MIRROR" >/tmp/debootstrap.log
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
fi

rm -rf "$CTX"; mkdir -p "$CTX"
echo "wheelhouse: the package and its serving dependencies, for the base image's Python"
PYV=$(docker run --rm --network=none "$BASE" python3 -c 'import platform; print(platform.python_version())')
"$PY" -m pip wheel -q --no-deps --wheel-dir "$CTX/wheelhouse" .
PLATFORMS=(); for v in $(seq 5 36); do PLATFORMS+=(--platform "manylinux_2_${v}_x86_64"); done
"$PY" -m pip download -q --dest "$CTX/wheelhouse" --only-binary=:all: --python-version "$PYV" --implementation cp \
  --abi cp311 --abi abi3 --abi none "${PLATFORMS[@]}" --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  "$CTX"/wheelhouse/nutrition_predictor-*.whl
echo "model: ${RUN:-the shipped model}, with its ONNX file (the shipped model comes with one; a run without one is exported)"
cp -r "${RUN:-nutrition_predictor/pretrained}" "$CTX/model"
[ -f "$CTX/model/model.onnx" ] ||
  "$PY" -c "import sys; from nutrition_predictor.cli import main; sys.exit(main(sys.argv[1:]))" export --onnx --run "$CTX/model"
cp docker/Dockerfile "$CTX/Dockerfile"

OLD=$(docker image inspect "$TAG" --format '{{.Id}}' 2>/dev/null || true)
docker build --network=none --build-arg BASE="$BASE" -t "$TAG" "$CTX"
docker image prune --force --filter label=nutrition-predictor=build >/dev/null
if [ -n "$OLD" ] && [ "$OLD" != "$(docker image inspect "$TAG" --format '{{.Id}}')" ]; then
  docker rmi "$OLD" >/dev/null 2>&1 || echo "kept the image $TAG replaced ($OLD): a container or another image uses it"
fi
docker image ls "$TAG" --format 'built {{.Repository}}:{{.Tag}}, {{.Size}}'
