#!/usr/bin/env bash
# Makes the certificates of the Envoy <-> server link for compose.tls.yaml (mutual TLS), with openssl:
#
#   deploy/docker/make-tls-certs.sh [DIR]                 # DIR defaults to deploy/docker/tls
#   deploy/docker/make-tls-certs.sh [DIR] --public NAME   # also a self-signed public.crt for NAME (trials)
#
#   ca.crt, ca.key                    a private CA for this link only (ca.key is not mounted anywhere)
#   server.crt, server.key            the servers: SAN DNS:server (the compose service) and DNS:localhost
#                                     (the health check), usage serverAuth and clientAuth (the health check
#                                     presents it to the server itself)
#   envoy-client.crt, envoy-client.key  Envoy's client certificate, usage clientAuth
#   public.crt, public.key            only with --public: HTTPS on :8000, self-signed. For real use put your
#                                     own certificate chain and key there (e.g. from Let's Encrypt).
#
# Existing files are kept (delete them to re-issue). The folder is made 0700 and the files 0644, because
# the containers read them through bind mounts as uid 10001 (server) and 101 (Envoy). Valid for DAYS days
# (env, default 365); re-run and restart server and envoy before they expire.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="$repo/deploy/docker/tls"
if [[ $# -gt 0 && $1 != --* ]]; then dir="$1"; shift; fi
public=""
if [[ $# -gt 0 ]]; then
    [[ $1 == --public && $# -eq 2 ]] || { echo "usage: $0 [DIR] [--public NAME]" >&2; exit 2; }
    public="$2"
fi
days="${DAYS:-365}"
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"

issue() {  # NAME SUBJECT EXTENSIONS
    [[ -e $1.crt ]] && { echo "kept $dir/$1.crt"; return; }
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%b' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
    echo "wrote $dir/$1.crt"
}

if [[ ! -e ca.crt ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days "$((days * 3))" \
        -subj "/CN=deepfake internal CA" 2>/dev/null
    chmod 600 ca.key
    echo "wrote $dir/ca.crt"
fi
issue server "/CN=server" \
    "subjectAltName=DNS:server,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n"
issue envoy-client "/CN=deepfake-envoy" \
    "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n"
if [[ -n $public && ! -e public.crt ]]; then
    san="DNS:$public"
    if [[ $public =~ ^[0-9.]+$ || $public == *:* ]]; then san="IP:$public"; fi
    openssl req -x509 -newkey rsa:2048 -nodes -keyout public.key -out public.crt -days "$days" \
        -subj "/CN=$public" -addext "subjectAltName=$san" 2>/dev/null
    echo "wrote $dir/public.crt (self-signed for $public)"
fi
chmod 644 ./*.crt server.key envoy-client.key
if [[ -e public.key ]]; then chmod 644 public.key; fi
