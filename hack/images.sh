#!/usr/bin/env bash
# Builds the test images from Debian packages and pushes them into the local registry
# (hack/registry.sh), which containerd uses as a mirror of docker.io and registry.k8s.io:
#   docker.io/library/busybox:latest   busybox-static, `sh` by default
#   docker.io/library/nginx:latest, :1.25   Debian's nginx serving its welcome page on port 80,
#                                      access log on stdout, error log on stderr
#   registry.k8s.io/pause:3.6          the sandbox image (a shell that sleeps until TERM)
# Usage: hack/images.sh REGISTRY (e.g. 127.0.0.1:5000). Idempotent: images already in the
# registry are not built again.
set -euo pipefail
registry=${1:?registry address, e.g. 127.0.0.1:5000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
path_env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

present() { skopeo inspect --tls-verify=false "docker://$registry/$1" >/dev/null 2>&1; }

# A fresh image $1 in the layout, unpacked into $work/$1 for filling.
start_image() {
  umoci new --image "$work/oci:$1"
  umoci unpack --image "$work/oci:$1" "$work/$1" >/dev/null
  local root="$work/$1/rootfs"
  mkdir -p "$root"/{bin,etc,tmp,root}
  chmod 1777 "$root/tmp"
  cp /usr/bin/busybox "$root/bin/busybox"
  for app in $(/usr/bin/busybox --list); do
    [ "$app" = busybox ] || [ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# Packs the filled root of image $1 (then `umoci config` may set its configuration).
pack_image() {
  umoci repack --image "$work/oci:$1" "$work/$1"
}

# Pushes image $1 as each of the following names.
push_image() {
  local name=$1
  shift
  for target in "$@"; do
    skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:$name" "docker://$registry/$target"
  done
}

# Copies a binary and the shared libraries it loads into a root.
copy_with_libraries() {
  local root=$1 binary=$2
  mkdir -p "$root$(dirname "$binary")"
  cp -L "$binary" "$root$binary"
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

umoci init --layout "$work/oci"

if ! present library/busybox:latest; then
  start_image busybox
  pack_image busybox
  umoci config --image "$work/oci:busybox" --config.env "$path_env" --config.cmd sh
  push_image busybox library/busybox:latest
fi

if ! present pause:3.6; then
  start_image pause
  pack_image pause
  umoci config --image "$work/oci:pause" --config.env "$path_env" \
    --config.entrypoint /bin/sh --config.entrypoint -c \
    --config.entrypoint "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done"
  push_image pause pause:3.6
fi

if ! present library/nginx:1.25; then
  start_image nginx
  root="$work/nginx/rootfs"
  copy_with_libraries "$root" /usr/sbin/nginx
  for module in /usr/lib/nginx/modules/*.so; do
    [ -e "$module" ] && copy_with_libraries "$root" "$module"
  done
  cp -a /etc/nginx "$root/etc/nginx"
  sed -i -e 's|access_log .*;|access_log /dev/stdout;|' -e 's|error_log .*;|error_log /dev/stderr;|' \
    "$root/etc/nginx/nginx.conf"
  mkdir -p "$root/var/www/html" "$root/var/log/nginx" "$root/var/lib/nginx" "$root/run"
  cp /usr/share/nginx/html/index.html "$root/var/www/html/index.nginx-debian.html"
  pack_image nginx
  umoci config --image "$work/oci:nginx" --config.env "$path_env" \
    --config.entrypoint nginx --config.entrypoint -g --config.entrypoint 'daemon off;' \
    --config.exposedports 80/tcp --config.stopsignal SIGQUIT
  push_image nginx library/nginx:latest library/nginx:1.25
fi
