#!/usr/bin/env bash
# Install WordNet 3.0 for nltk into a project-local nltk data directory (idempotent).
#
#   envs/install_wordnet.sh [NLTK_DATA_DIR]
#
# NLTK_DATA_DIR defaults to $SYNSCALE_NLTK_DATA, else .venv/nltk_data (which .venv/bin/python's nltk
# searches by itself). The prompt sets classname_desc, classname_hyper and their _places variants
# read WordNet glosses and hypernyms from <NLTK_DATA_DIR>/corpora/wordnet.
#
# Source, in order of preference:
#   1. Debian's wordnet-base + wordnet-sense-index (/usr/share/wordnet), installed with apt-get when
#      missing and apt-get is usable (root, or sudo without a password);
#   2. nltk.download('wordnet') (needs internet access to nltk's data server).
# nltk's reader needs real files (not symlinks) under corpora/wordnet, plus 'lexnames' (which the
# Debian packages do not ship: it is written below, see `man 5 lexnames`) and 'index.sense'.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST="${1:-${SYNSCALE_NLTK_DATA:-.venv/nltk_data}}"
WN="$DEST/corpora/wordnet"
SRC="${SYNSCALE_WORDNET_SRC:-/usr/share/wordnet}"
PY="${PYTHON:-.venv/bin/python}"
FILES="cntlist.rev index.sense index.adj index.adv index.noun index.verb data.adj data.adv data.noun data.verb adj.exc adv.exc noun.exc verb.exc"

complete() {  # $1: directory; true when it holds every file nltk's reader opens
    local d="$1" f
    for f in $FILES lexnames; do
        [ -s "$d/$f" ] && [ ! -L "$d/$f" ] || return 1
    done
    [ "$(wc -l < "$d/lexnames")" -eq 45 ]
}

debian_complete() {
    local f
    for f in $FILES; do [ -s "$SRC/$f" ] || return 1; done
}

write_lexnames() {  # the 45 lexicographer files of WordNet 3.0: number, name, syntactic category
    local i=0 name cat
    for name in adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute \
        noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group \
        noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession \
        noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time \
        verb.body verb.change verb.cognition verb.communication verb.competition verb.consumption \
        verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession \
        verb.social verb.stative verb.weather adj.ppl; do
        case "$name" in noun.*) cat=1 ;; verb.*) cat=2 ;; adj.*) cat=3 ;; adv.*) cat=4 ;; esac
        printf '%02d\t%s\t%d\n' "$i" "$name" "$cat"
        i=$((i + 1))
    done > "$1"
}

apt_install() {
    local sudo=""
    command -v apt-get > /dev/null 2>&1 || return 1
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo > /dev/null 2>&1 && sudo -n true 2> /dev/null || return 1
        sudo="sudo -n"
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index > /dev/null 2>&1; then
        $sudo apt-get update -q > /dev/null 2>&1 || return 1
        $sudo apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index > /dev/null || return 1
    fi
}

if complete "$WN"; then
    echo "WordNet 3.0 for nltk: already in $WN"
    exit 0
fi

if [ "$SRC" = /usr/share/wordnet ] && ! debian_complete; then
    apt_install || echo "install_wordnet: apt-get could not install wordnet-base wordnet-sense-index" >&2
fi

if debian_complete; then
    mkdir -p "$DEST/corpora"
    TMP="$WN.partial-$$"
    rm -rf "$TMP"
    mkdir -p "$TMP"
    trap 'rm -rf "$TMP"' EXIT
    # real copies, never symlinks: the data dir stays valid if the Debian packages go away
    for f in $FILES; do cp -L "$SRC/$f" "$TMP/$f"; done
    write_lexnames "$TMP/lexnames"
    rm -rf "$WN"
    mv "$TMP" "$WN"
    trap - EXIT
    echo "WordNet 3.0 for nltk: copied from $SRC into $WN"
else
    echo "install_wordnet: Debian WordNet files not available in $SRC; trying nltk.download('wordnet')" >&2
    "$PY" - "$DEST" << 'EOF'
import sys, zipfile
from pathlib import Path
import nltk
dest = Path(sys.argv[1])
try:
    ok = nltk.download("wordnet", download_dir=str(dest), quiet=True, raise_on_error=True)
except Exception as e:
    ok, why = False, f"{type(e).__name__}: {e}"
else:
    why = "nltk.download returned False"
if not ok:
    sys.exit(f"install_wordnet: nltk.download('wordnet') failed ({why}). Install the Debian packages "
             "instead (as root: apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index) "
             "and re-run envs/install_wordnet.sh, or copy an nltk data dir holding corpora/wordnet to "
             f"{dest} (or point SYNSCALE_NLTK_DATA at one)")
z = dest / "corpora" / "wordnet.zip"
if z.exists() and not (dest / "corpora" / "wordnet").exists():
    with zipfile.ZipFile(z) as fh:
        fh.extractall(dest / "corpora")
EOF
fi

# check that nltk reads it, from the same directory synscale looks in
SYNSCALE_NLTK_DATA="$DEST" "$PY" -c "
from synscale.prompts.wordnet import load_wordnet, synset_for_wnid
wn = load_wordnet()
s = synset_for_wnid('n01440764')
assert s.name() == 'tench.n.01', s.name()
print('WordNet', wn.get_version(), 'for nltk: ready in', '$DEST')
"
