#!/usr/bin/env bash
# Builds regcred's image from the repository's Dockerfile without a Docker engine, and runs it.
#
#   [CONFIG=a.yaml:b.yaml] [PUSH=host:port/repo:tag PUSH_CREDS=user:pw] test/chart/image/build.sh [TAG]
#   (default TAG: localhost/regcred:dev)
#
# No base image can be pulled here, so a stand-in for node:24-bookworm-slim is assembled from
# this machine: glibc and the other shared libraries the Node binary links, the Node 24 binary
# of the project's `node` dev dependency (node_modules/node), npm from the host, dash as /bin/sh
# (for RUN), /usr/bin/env (npm's and every package binary's `#!/usr/bin/env node`), and this
# machine's CA bundle as NODE_EXTRA_CA_CERTS (npm ci in the build goes through the same network,
# and its egress may re-sign TLS). Only the stand-in carries these. It is passed as --build-arg NODE_IMAGE; the Dockerfile's default stays the
# real public image. Then the image's command runs as its own non-root user: `--version`.
#
# Needs root (buildah with the vfs driver and chroot isolation) and Debian's buildah
# (apt-get install -y buildah). npm ci inside the build reaches the npm registry.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
TAG=${1:-localhost/regcred:dev}
CACHE=${REGCRED_RIG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-rig}
STORE=$CACHE/buildah
BUILDAH=(buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs)
NODE_BIN=$ROOT/node_modules/node/bin/node
NODE_VERSION=$("$NODE_BIN" --version)
BASE=localhost/regcred-standin-node:${NODE_VERSION#v}

log() { printf '[image] %s\n' "$*" >&2; }
command -v buildah >/dev/null || { echo "buildah not found: apt-get install -y buildah" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run as root (buildah vfs + chroot isolation)" >&2; exit 2; }
[[ -x $NODE_BIN ]] || { echo "no $NODE_BIN: run npm ci first" >&2; exit 2; }
mkdir -p "$STORE"

if ! "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  log "assembling stand-in base $BASE from this machine's glibc, dash, npm and $NODE_BIN"
  CTX=$(mktemp -d)
  trap 'rm -rf "$CTX"' EXIT
  R=$CTX/rootfs
  mkdir -p "$R"/{bin,etc,tmp,root,usr/bin,usr/local/bin,usr/local/lib}
  chmod 1777 "$R/tmp"
  # The shared libraries node and dash link (ldd), at their own paths, plus the DNS resolver's.
  for lib in $( (ldd "$NODE_BIN"; ldd /bin/dash; ldd /usr/bin/env) | grep -o '/[^ ]*' | sort -u) \
    /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 \
    /lib/x86_64-linux-gnu/libresolv.so.2; do
    [[ -e $lib ]] || continue
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
  done
  cp /bin/dash "$R/bin/sh"
  cp /usr/bin/env "$R/usr/bin/env"
  mkdir -p "$R/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
  cp "$NODE_BIN" "$R/usr/local/bin/node"
  NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  cp -a "$NPM_DIR" "$R/usr/local/lib/npm"
  ln -s ../lib/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -s ../lib/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n' >"$R/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$R/etc/group"
  printf 'hosts: files dns\n' >"$R/etc/nsswitch.conf"
  cat >"$CTX/Containerfile" <<'CF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/root NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
CF
  "${BUILDAH[@]}" bud --isolation chroot --layers=false -f "$CTX/Containerfile" -t "$BASE" "$CTX" >&2
fi

# The build's inputs (what the Dockerfile copies, plus the base) name a cache tag: suites of one
# run that build the same tree (image.test.ts, node-install.test.ts) build it once.
CTX_HASH=$(cd "$ROOT" && { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - \
  Dockerfile .dockerignore package.json package-lock.json scripts src providers;
  echo "$BASE"; } | sha256sum | cut -c1-16)
CACHED=localhost/regcred-build:$CTX_HASH
started=$(date +%s)
if "${BUILDAH[@]}" inspect --type image "$CACHED" >/dev/null 2>&1; then
  log "reusing $CACHED (same Dockerfile, sources and base)"
else
  log "building $TAG from $ROOT/Dockerfile with NODE_IMAGE=$BASE"
  "${BUILDAH[@]}" bud --isolation chroot --pull-never --build-arg "NODE_IMAGE=$BASE" -t "$CACHED" "$ROOT" >&2
  log "built $CACHED in $(($(date +%s) - started)) s"
  # Older trees' builds: vfs keeps full copies, so drop them.
  for old in $("${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/regcred-build:' | grep -v ":$CTX_HASH$"); do
    "${BUILDAH[@]}" rmi -f "$old" >/dev/null 2>&1 || true
  done
fi
"${BUILDAH[@]}" tag "$CACHED" "$TAG"
echo "build_seconds=$(($(date +%s) - started))"
# A previous image of the tag is now dangling.
"${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true

# Run the image's entrypoint as the image's user (65532): the version, and who it runs as.
CTR=$("${BUILDAH[@]}" from --pull-never "$TAG")
trap '"${BUILDAH[@]}" rm "$CTR" >/dev/null 2>&1 || true' EXIT
user=$("${BUILDAH[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$TAG")
entrypoint=$("${BUILDAH[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$TAG")
log "image user $user, entrypoint $entrypoint"
echo "user=$user"
read -r -a ENTRYPOINT <<<"${entrypoint//[\[\]]/}"
echo "uid=$("${BUILDAH[@]}" run --isolation chroot --user "$user" "$CTR" -- node -e 'console.log(process.getuid() + ":" + process.getgid())')"
echo "version=$("${BUILDAH[@]}" run --isolation chroot --user "$user" "$CTR" -- "${ENTRYPOINT[@]}" --version)"
# With CONFIG=FILE[:FILE...] (e.g. configs the chart rendered), check each where the chart mounts
# it, which is the image's default --config: prints validate=ok or validate=exit N, in order.
if [[ -n ${CONFIG:-} ]]; then
  IFS=: read -r -a configs <<<"$CONFIG"
  for c in "${configs[@]}"; do
    "${BUILDAH[@]}" copy --chown 0:0 "$CTR" "$c" /etc/regcred/config.yaml >/dev/null
    if "${BUILDAH[@]}" run --isolation chroot --user "$user" "$CTR" -- "${ENTRYPOINT[@]}" validate >/dev/null 2>&1; then
      echo "validate=ok"
    else
      echo "validate=exit $?"
    fi
  done
fi
# With ONCE_KUBECONFIG and ONCE_CONFIG: `regcred once --output kube` from inside the image, as
# its own user, against the cluster that kubeconfig names (chroot isolation shares the host's
# network, so a loopback API server is reachable). ONCE_ENV=NAME=VALUE passes one variable.
if [[ -n ${ONCE_KUBECONFIG:-} && -n ${ONCE_CONFIG:-} ]]; then
  "${BUILDAH[@]}" copy --chown 65532:65532 "$CTR" "$ONCE_KUBECONFIG" /tmp/kubeconfig >/dev/null
  "${BUILDAH[@]}" copy --chown 65532:65532 "$CTR" "$ONCE_CONFIG" /tmp/once.yaml >/dev/null
  envs=()
  [[ -n ${ONCE_ENV:-} ]] && envs=(--env "$ONCE_ENV")
  if "${BUILDAH[@]}" run --isolation chroot --user "$user" "${envs[@]}" "$CTR" -- "${ENTRYPOINT[@]}" once \
    --output kube --kubeconfig /tmp/kubeconfig -c /tmp/once.yaml >&2; then
    echo "once=ok"
  else
    echo "once=exit $?"
  fi
fi
# With PUSH=HOST/REPO:TAG (and PUSH_CREDS=USER:PASSWORD): push the image there, as a user's CI
# would. A loopback registry is plain HTTP (as kubelet's containerd treats it); any other host
# must present a certificate that PUSH_CERT_DIR (a folder of *.crt) or the system trusts.
if [[ -n ${PUSH:-} ]]; then
  push=(push --digestfile "$STORE/pushed.digest")
  [[ -n ${PUSH_CREDS:-} ]] && push+=(--creds "$PUSH_CREDS")
  if [[ $PUSH == 127.0.0.1:* || $PUSH == localhost:* ]]; then
    push+=(--tls-verify=false)
  elif [[ -n ${PUSH_CERT_DIR:-} ]]; then
    push+=(--cert-dir "$PUSH_CERT_DIR")
  fi
  "${BUILDAH[@]}" "${push[@]}" "$TAG" "docker://$PUSH" >&2
  echo "pushed=$(cat "$STORE/pushed.digest")"
fi
echo "size=$("${BUILDAH[@]}" images --format '{{.Size}}' "$TAG" | head -1)"
