#!/usr/bin/env python3
"""Builds the streaming benchmark's corpus of real English from Debian packages, on the
development machine (the CUDA machine has none of them; the result travels with the
repository under .bench/, which git ignores):
  - the King James Bible (bible-kjv: `bible gen1:1-rev22:21`), one paragraph per chapter;
  - the Python 3.11 documentation's reStructuredText sources (python3.11-doc);
  - the fortunes of the `fortunes` package (quotations, literature, science, ...).
Each source is cut at paragraph boundaries into documents of about --chars characters
(about 512 tokens of a 32k byte-level BPE at ~4.5 characters per token), no text is
repeated, and the documents are shuffled (fixed seed) so that the first N mix the
sources. Writes OUT/corpus.txt (documents separated by blank lines, no blank line inside
a document) and OUT/tokenizer_sample.txt (every document, for training the tokenizer).
Standard library only.
"""
import argparse
import pathlib
import random
import re
import subprocess

FORTUNES = ["art", "computers", "cookie", "definitions", "education", "fortunes", "goedel", "humorists", "kids",
            "law", "linuxcookie", "literature", "love", "magic", "medicine", "men-women", "miscellaneous", "news",
            "people", "pets", "platitudes", "politics", "science", "songs-poems", "sports", "startrek", "translate-me",
            "wisdom", "work", "zippy"]


def paragraphs_bible():
    text = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], capture_output=True, text=True, check=True).stdout
    chapters, current, key = [], [], None
    for line in text.splitlines():
        m = re.match(r"^([1-3]?[A-Za-z]+\d+):(\d+)\s+(.*)$", line)
        if not m:
            if current and line.strip():
                current.append(line.strip())
            continue
        if m.group(1) != key and current:
            chapters.append(" ".join(current))
            current = []
        key = m.group(1)
        current.append(m.group(3).strip())
    if current:
        chapters.append(" ".join(current))
    return chapters


def paragraphs_files(paths):
    out = []
    for p in paths:
        text = pathlib.Path(p).read_text(encoding="utf-8", errors="replace")
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            if len(para) >= 40:
                out.append(para)
    return out


def paragraphs_fortunes(root):
    out = []
    for name in FORTUNES:
        p = pathlib.Path(root) / name
        if not p.exists():
            continue
        for cookie in p.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            cookie = " ".join(cookie.split())
            if len(cookie) >= 20:
                out.append(cookie)
    return out


def documents(paragraphs, chars):
    """Consecutive paragraphs of one source joined until a document has >= chars characters."""
    docs, cur, size = [], [], 0
    for para in paragraphs:
        cur.append(para)
        size += len(para) + 1
        if size >= chars:
            docs.append(" ".join(cur))
            cur, size = [], 0
    return docs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--chars", type=int, default=2800)
    ap.add_argument("--python-docs", default="/usr/share/doc/python3.11/html/_sources")
    ap.add_argument("--fortunes", default="/usr/share/games/fortunes")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rst = sorted(str(p) for p in pathlib.Path(a.python_docs).rglob("*.txt"))
    sources = {
        "bible": documents(paragraphs_bible(), a.chars),
        "python-docs": documents(paragraphs_files(rst), a.chars),
        "fortunes": documents(paragraphs_fortunes(a.fortunes), a.chars),
    }
    docs = [d for name in sorted(sources) for d in sources[name]]
    random.Random(a.seed).shuffle(docs)
    (out / "corpus.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    (out / "tokenizer_sample.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    for name, d in sources.items():
        print(f"{name}: {len(d)} documents, {sum(map(len, d)) / 1e6:.2f} M characters")
    print(f"total: {len(docs)} documents, {sum(map(len, docs)) / 1e6:.2f} M characters -> {out / 'corpus.txt'}")


if __name__ == "__main__":
    main()
