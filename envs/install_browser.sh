#!/usr/bin/env bash
# Install headless Chromium and its WebDriver (Debian's chromium and chromium-driver) for the test that
# opens the built HTML report in a real browser (idempotent). Needs apt-get (root, or sudo without a
# password); elsewhere it says what to install and leaves the rest of the set-up alone.
set -euo pipefail

if command -v chromium > /dev/null 2>&1 && command -v chromedriver > /dev/null 2>&1; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo > /dev/null 2>&1 && sudo -n true 2> /dev/null; then
        sudo="sudo -n"
    else
        echo "install_browser: not root and no password-less sudo; install Debian's chromium and chromium-driver" \
             "for the report test (tests/workflow/test_paper_path.py::test_report_renders_in_headless_chromium)" >&2
        exit 0
    fi
fi
if ! command -v apt-get > /dev/null 2>&1; then
    echo "install_browser: no apt-get; install chromium and its chromedriver for the report test" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q --no-install-recommends chromium chromium-driver > /dev/null 2>&1; then
    $sudo apt-get update -q > /dev/null
    $sudo apt-get install -y -q --no-install-recommends chromium chromium-driver > /dev/null
fi
echo "install_browser: $(chromium --version 2> /dev/null || echo chromium)"
