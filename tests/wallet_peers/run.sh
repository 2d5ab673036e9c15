#!/usr/bin/env bash
# The wallet codec against independent peers: Alipay's official Python SDK
# (alipay-sdk-python) and wechatpayv3 check what crates/wallets signs and
# encrypts, and sign and encrypt what it must accept
# (crates/wallets/tests/peers.rs, tests/peers/peer.py); then the same SDKs
# act as the merchant against `portcullis wallet-sim`
# (crates/portcullis/tests/wallet_sim.rs, tests/wallet_peers/sim_peer.py);
# the same SDKs act as the provider for our refund calls and sign a
# REFUND.SUCCESS notification we must accept
# (crates/portcullis/tests/wallet_refund_peers.rs, tests/wallet_peers/refund_peer.py);
# and zxing-cpp decodes the QR PNGs we render (crates/api/src/qr_images.rs).
#   PYTHON   the interpreter that makes the venv (default python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

venv="$root/.venv-wallet-peers"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "wallet peers: creating $venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/wallet_peers/requirements.txt

echo "wallet peers: cargo test -p portcullis-wallets --test peers"
PORTCULLIS_PEER_PYTHON="$venv/bin/python" CI=true \
    cargo test -p portcullis-wallets --test peers -- --include-ignored

echo "wallet peers: zxing-cpp reads our QR PNGs (cargo test -p portcullis-api --lib qr_images)"
PORTCULLIS_PEER_PYTHON="$venv/bin/python" CI=true \
    cargo test -p portcullis-api --lib qr_images -- --include-ignored

echo "wallet peers: the SDKs check our refund calls (cargo test -p portcullis --test wallet_refund_peers)"
PORTCULLIS_PEER_PYTHON="$venv/bin/python" CI=true \
    cargo test -p portcullis --test wallet_refund_peers -- --include-ignored

echo "wallet peers: cargo test -p portcullis --test wallet_sim the_providers_sdks"
PORTCULLIS_PEER_PYTHON="$venv/bin/python" CI=true \
    exec cargo test -p portcullis --test wallet_sim the_providers_sdks -- --include-ignored
