# Shared helpers for scripts/*: sourced, not run.

# Installs the Debian packages named in "$@" that are missing (apt-get update first).
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        echo "installing: ${missing[*]}" >&2
        $sudo apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

# What building and testing Stowage needs from Debian.
STOWAGE_BUILD_PACKAGES=(pkg-config libarchive-dev zlib1g-dev libssl-dev)
STOWAGE_TEST_PACKAGES=(skopeo umoci buildah zstd ca-certificates docker-registry apache2-utils openssl curl groff-base zsh fish)

# The release build that scripts/install installs and scripts/bench measures: the Swift
# runtime linked in (--static-swift-stdlib), so the binary runs where no Swift toolchain is.
STOWAGE_RELEASE_BUILD=(swift build -c release --static-swift-stdlib --scratch-path .build-static --product stowage)

# Prints the path of the release binary STOWAGE_RELEASE_BUILD makes.
release_binary() {
    echo "$(swift build -c release --static-swift-stdlib --scratch-path .build-static --show-bin-path)/stowage"
}
