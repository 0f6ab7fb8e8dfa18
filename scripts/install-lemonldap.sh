#!/usr/bin/env bash
# LemonLDAP::NG (Debian's packages) for tests/lemonldap_harness.rs and the lemonldap
# connector's tests: portal, manager and REST API are served by plackup/Starman on loopback
# ports that the tests start themselves, so no web server and no system service is set up.
# Idempotent and non-interactive; run as root. Installs only what is missing.
set -euo pipefail

pkgs=(
  liblemonldap-ng-manager-perl liblemonldap-ng-portal-perl lemonldap-ng-fastcgi-server
  libnet-ldap-perl libapache-session-browseable-perl starman libxml-libxml-perl
  libstring-random-perl libcookie-baker-xs-perl liblwp-protocol-https-perl
  libcrypt-openssl-bignum-perl libio-string-perl libipc-run-perl libhttp-parser-xs-perl
  libdbi-perl
  # LDAP authentication needs Unicode::String (and IO::Socket::Timeout for ldapIOTimeout);
  # the manager's conf module needs Email::Sender and MIME::Entity
  libunicode-string-perl libio-socket-timeout-perl libemail-sender-perl
  libmime-tools-perl
  # the portal always loads its captcha module: without these it answers 500
  libgd-securityimage-perl libimage-magick-perl libconvert-base32-perl
  # the tests generate the OIDC signing key with openssl
  openssl
)

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-lemonldap.sh: missing ${missing[*]}; run as root" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Other jobs on the machine may hold the dpkg lock: wait for it rather than fail.
apt-get update -qq -o DPkg::Lock::Timeout=600
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
