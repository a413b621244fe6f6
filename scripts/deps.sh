#!/usr/bin/env bash
# Make sure the Debian packages the pipeline needs are installed.
# Quiet when nothing is missing, so `make test` stays readable.
#
#   deps.sh [GROUP...]   optional groups: vm (QEMU and the initramfs tools
#                        of make bench-vm), bench (gnuplot for the plot of
#                        make bench), profile (perf for make profile)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(
	build-essential bc bison flex libelf-dev check
	pkg-config lcov shellcheck xz-utils ccache git patch rsync coreutils
	util-linux
	# geninfo reads gcov's JSON with the first JSON module it finds: the
	# XS one halves every capture against the pure-perl fallback.
	libjson-xs-perl
	# run-suites claims suites with bash's loadable mkdir: an exec costs
	# tens of milliseconds inside UML.
	bash-builtins
)
# The default kernel comes from the installed package; kernel-source.sh
# downloads any other version, which needs the archive keyring. A
# KERNEL_SRC tree needs neither.
if [[ -n ${KERNEL_SRC:-} ]]; then
	:
elif [[ $KERNEL_VERSION == "$DEFAULT_KERNEL_VERSION" ]]; then
	PACKAGES+=("linux-source-$KERNEL_VERSION")
else
	PACKAGES+=(debian-archive-keyring)
fi

for group in "$@"; do
	case $group in
	vm) PACKAGES+=(qemu-system-x86 busybox-static cpio) ;;
	bench) PACKAGES+=(gnuplot-nox) ;;
	profile) PACKAGES+=(linux-perf) ;;
	*) die "unknown package group '$group' (known: vm, bench, profile)" ;;
	esac
done

command -v dpkg-query >/dev/null ||
	die "no dpkg-query: this check knows Debian packages only; install the equivalents of: ${PACKAGES[*]}"

# One dpkg-query for all: "ii " is installed; anything else (absent,
# half-installed, removed with config left) needs an install. A package
# dpkg has never heard of is not listed at all.
declare -A installed=()
while read -r p status; do
	if [[ $status == ii* ]]; then
		installed[${p%%:*}]=1
	fi
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
	[[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)); then
	die "missing packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
fi

info "installing: ${missing[*]}"
apt-get update || die "apt-get update failed"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
	die "apt-get install ${missing[*]} failed"
