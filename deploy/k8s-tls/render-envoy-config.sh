#!/usr/bin/env bash
# Regenerates envoy-config.yaml (and the config hash in envoy-tls.yaml) of the TLS overlay: the base's
# renderer with the certificate paths where envoy-tls.yaml mounts the Secrets.
#
#   deploy/k8s-tls/render-envoy-config.sh        # after changing server/launch/envoy.py
#
# tests/deploy/test_k8s_tls.py runs it into temporary files and fails when the committed ones differ.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../k8s/render-envoy-config.sh" \
    "${1:-$here/envoy-config.yaml}" "${2:-$here/envoy-tls.yaml}" \
    --tls-cert-file /run/secrets/deepfake-tls/public/tls.crt \
    --tls-key-file /run/secrets/deepfake-tls/public/tls.key \
    --upstream-ca-file /run/secrets/deepfake-tls/upstream/ca.crt \
    --upstream-cert-file /run/secrets/deepfake-tls/upstream/tls.crt \
    --upstream-key-file /run/secrets/deepfake-tls/upstream/tls.key
