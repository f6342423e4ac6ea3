"""Runs the shell code blocks of README.md and docs/*.md as a user would.

usage: run_doc_commands.py SRC_ROOT BUILD_ROOT WORK_DIR

Every ```sh (or bash, shell) block runs on its own, as written, with
`bash -e -o pipefail`, in WORK_DIR: a view of the repository (links to its
top-level entries) whose build/ is BUILD_ROOT, the tree that `scripts/demo`
builds. PATH is the system's, without LLVM's tool directory, as on a fresh
Debian machine. A block right after the line
    <!-- doc-test: skip: REASON -->
is not run (GPU-only or long-running commands); those are listed.
Prints PASS, SKIP or FAIL per block (FAIL with the end of its output) and a
summary; exits 1 if a block failed.
"""

import os
import re
import shutil
import subprocess
import sys

src_root, build_root, work = (os.path.realpath(p) for p in sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
for entry in os.listdir(src_root):
    if entry not in ("build", ".git"):
        os.symlink(os.path.join(src_root, entry), os.path.join(work, entry))
os.symlink(build_root, os.path.join(work, "build"))

docs = ["README.md"] + sorted(
    os.path.join("docs", f) for f in os.listdir(os.path.join(src_root, "docs"))
    if f.endswith(".md"))

env = dict(os.environ)
env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
for variable in ("MOE_BUILD", "PYTHONPATH"):
    env.pop(variable, None)

SKIP = re.compile(r"<!--\s*doc-test:\s*skip:\s*(.*?)\s*-->")
counts = {"PASS": 0, "SKIP": 0, "FAIL": 0}
for doc in docs:
    lines = open(os.path.join(src_root, doc)).read().split("\n")
    n = 0
    while n < len(lines):
        fence = re.match(r"```(sh|bash|shell)\s*$", lines[n])
        if not fence:
            n += 1
            continue
        start = n + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        where = "%s:%d" % (doc, start)
        skip = SKIP.search(lines[n - 1]) if n > 0 else None
        n = end + 1
        if skip:
            print("SKIP: %s (%s)" % (where, skip.group(1)))
            counts["SKIP"] += 1
            continue
        block = "\n".join(lines[start:end]) + "\n"
        try:
            result = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block], cwd=work,
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors="replace", timeout=600)
            status = "PASS" if result.returncode == 0 else "FAIL"
            output = result.stdout
        except subprocess.TimeoutExpired:
            status, output = "FAIL", "timed out after 600 s"
        counts[status] += 1
        print("%s: %s" % (status, where))
        if status == "FAIL":
            print("  " + block.replace("\n", "\n  "))
            print("\n".join("  | " + l for l in output.splitlines()[-20:]))
print("%d blocks: %d passed, %d skipped, %d failed" %
      (sum(counts.values()), counts["PASS"], counts["SKIP"], counts["FAIL"]))
sys.exit(1 if counts["FAIL"] else 0)
