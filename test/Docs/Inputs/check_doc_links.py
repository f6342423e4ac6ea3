"""Checks that README.md and docs/ refer only to files of the repository.

usage: check_doc_links.py SRC_ROOT

For README.md and every docs/**/*.md:
  - each Markdown link outside code, [text](target), is relative, stays in
    the repository and names an existing file or directory (an #anchor is
    ignored);
  - every path anywhere in the text, code included, that starts with `../`
    names an existing file of the repository (`../shared/...` does not).
Prints one line per problem and a summary; exits 1 on any problem.
"""

import os
import re
import sys

root = os.path.realpath(sys.argv[1])
files = ["README.md"] + sorted(
    os.path.relpath(os.path.join(d, f), root)
    for d, _, names in os.walk(os.path.join(root, "docs"))
    for f in names if f.endswith(".md"))

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+[\w.\-/]*)")


def inside(path):
    return path == root or path.startswith(root + os.sep)


problems = links = 0
for name in files:
    base = os.path.dirname(os.path.join(root, name))
    text = open(os.path.join(root, name)).read()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    for target in LINK.findall(prose):
        links += 1
        if re.match(r"[a-z]+:", target):
            print("%s: link outside the repository: %s" % (name, target))
            problems += 1
            continue
        path = os.path.realpath(os.path.join(base, target.split("#")[0]))
        if not inside(path):
            print("%s: link outside the repository: %s" % (name, target))
            problems += 1
        elif not os.path.exists(path):
            print("%s: broken link: %s" % (name, target))
            problems += 1
    for path in CLIMB.findall(text):
        resolved = os.path.realpath(os.path.join(base, path))
        if not inside(resolved) or not os.path.exists(resolved):
            print("%s: path outside the repository: %s" % (name, path))
            problems += 1
print("%d files, %d links, %d problems" % (len(files), links, problems))
sys.exit(1 if problems else 0)
