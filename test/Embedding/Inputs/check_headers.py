"""Compiles every public header of include/ on its own and before the others.

usage: check_headers.py SRC_ROOT BUILD_ROOT LLVM_INCLUDE CXX CC

One C++ translation unit per header H: H first, then every other header.
H comes first, so it compiles on its own (it includes what it uses), and
every other header B comes after H: nothing that H declares (a `detail`
namespace, a macro, a using-declaration) breaks B. Over all H this covers
every ordered pair of headers, the op header before the pipeline header
included, in as many translation units as there are headers. C headers
(moe-c/, and those marked `-*- C -*-`) also compile alone as C.
Prints one line per translation unit and exits 1 if any fails, with the
compiler's messages.
"""

import concurrent.futures
import os
import subprocess
import sys

src_root, build_root, llvm_include, cxx, cc = sys.argv[1:6]
include_dir = os.path.join(src_root, "include")
flags = ["-fsyntax-only", "-DNDEBUG", "-I", include_dir,
         "-I", os.path.join(build_root, "include"), "-I", llvm_include]

headers = sorted(
    os.path.relpath(os.path.join(root, name), include_dir)
    for root, _, names in os.walk(include_dir)
    for name in names if name.endswith(".h"))


def is_c_header(header):
    with open(os.path.join(include_dir, header)) as f:
        return header.startswith("moe-c/") or "-*- C -*-" in f.readline()


def compile_tu(includes, language):
    source = "".join('#include "%s"\n' % h for h in includes)
    command = ([cxx, "-x", "c++", "-std=c++17"] if language == "c++"
               else [cc, "-x", "c", "-std=c11"]) + flags + ["-"]
    result = subprocess.run(command, input=source, capture_output=True,
                            text=True)
    return result.returncode, result.stderr


units = []
for h in headers:
    others = [o for o in headers if o != h]
    units.append(("first, then %d others (c++)" % len(others), h,
                  [h] + others, "c++"))
    if is_c_header(h):
        units.append(("alone (c)", h, [h], "c"))

with concurrent.futures.ThreadPoolExecutor(2) as pool:
    results = list(pool.map(lambda u: compile_tu(u[2], u[3]), units))

failed = 0
for (what, header, tu, _), (rc, err) in zip(units, results):
    print("%s: %s %s" % ("PASS" if rc == 0 else "FAIL", header, what))
    if rc != 0:
        failed += 1
        print("  translation unit: " + ", ".join(tu))
        print("\n".join("  " + line for line in err.splitlines()[:20]))
print("%d headers, %d translation units, %d failed" %
      (len(headers), len(units), failed))
sys.exit(1 if failed else 0)
