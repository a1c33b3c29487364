#!/usr/bin/env python3
"""Checks that the tree still reads as the system (docs/ARCHITECTURE.md):

  - rooms are stacked: a file includes only its own room and the rooms below it (ROOMS,
    lowest first), and no files include each other in a circle;
  - no source file over 600 lines; the biggest top-level room under 20% of the lines;
  - functions fit on a screen: none over 60 lines unless the line before it says
    `// table:` (a function that is one table), and the median under 10 lines.

Counts the C++ sources (.cpp, .h) of the rooms and the scripts (.sh, .py) of the
top-level folders, not tests/, docs/ or manifests/. Prints what is wrong and exits 1;
`--report` also prints the figures; `--root DIR` checks another tree. Run by ctest
(check_tree) and by hand:
    python3 scripts/check_tree.py --report
"""
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The rooms of C++ code, lowest floor first: each may include only itself and those before it.
ROOMS = ["errors", "analysis", "io", "hf", "slurm", "scores", "models", "stages", "zoo", "pipeline", "cli",
         "benchmarks"]
NOT_ROOMS = {"tests", "docs", "manifests", "build", "runs", "third_party", "cmake"}
MAX_FILE_LINES = 600
MAX_ROOM_SHARE = 0.20
MAX_FUNCTION_LINES = 60
MAX_MEDIAN_FUNCTION_LINES = 10
TABLE_MARK = "// table:"
# Long functions left as they are on purpose, each with the reason; the check names them
# in --report so that they are not forgotten. Remove an entry when its function is split.
KNOWN_LONG = {
}


def source_files():
    """Every counted file, as a path relative to ROOT."""
    out = []
    for top in sorted(os.listdir(ROOT)):
        if top.startswith(".") or top in NOT_ROOMS or top.startswith("build") or not os.path.isdir(os.path.join(ROOT, top)):
            continue
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
            for name in filenames:
                if name.endswith((".cpp", ".h", ".sh", ".py")):
                    out.append(os.path.relpath(os.path.join(dirpath, name), ROOT))
    return out


def count_lines(path):
    with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
        return sum(1 for _ in f)


def room_of(path):
    return path.split("/", 1)[0]


def includes(path):
    """The project headers that a C++ file includes ("room/file.h")."""
    found = []
    with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m and os.path.exists(os.path.join(ROOT, m.group(1))):
                found.append(m.group(1))
    return found


def strip_code(text):
    """The text with comments, strings and character literals blanked (line breaks kept)."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'//[^\n]*|/\*.*?\*/|R"\((?:.|\n)*?\)"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', blank, text,
                  flags=re.S)


def functions(path):
    """(name, first line, last line, is_table) of each function body at namespace or class scope."""
    with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
        raw = f.read()
    raw_lines = raw.split("\n")
    code = strip_code(raw)
    code = re.sub(r"^[ \t]*#[^\n]*", lambda m: " " * len(m.group(0)), code, flags=re.M)
    out = []
    stack = []          # per open brace: "scope" (namespace, class, extern) or "body" or "other"
    head_start = 0      # where the text since the last ; { } at this level begins
    i = 0
    while i < len(code):
        c = code[i]
        if c in ";":
            head_start = i + 1
        elif c == "{":
            head = code[head_start:i]
            in_body = any(k[0] != "scope" for k in stack)
            kind = "other"
            if not in_body:
                h = " ".join(head.split())
                if re.search(r"\b(namespace|class|struct|union|enum)\b[^()]*$", h) or re.search(r'extern\s*$', h):
                    kind = "scope"
                elif re.search(r"\)\s*(const|noexcept|override|final|mutable|->[^{]*|\s)*$", h) or \
                        re.search(r"\)\s*:\s*.*$", h):
                    kind = "body"
                    name_m = re.search(r"([~\w:]+)\s*\(", h)
                    name = name_m.group(1) if name_m else "?"
                    label = re.match(r"\s*((public|private|protected)\s*:)?\s*", head)
                    first = code.count("\n", 0, head_start + label.end()) + 1
                    stack.append(("body", name, first))
                    head_start = i + 1
                    i += 1
                    continue
            stack.append((kind, None, None))
            head_start = i + 1
        elif c == "}":
            if stack:
                kind, name, first = stack.pop()
                if kind == "body":
                    last = code.count("\n", 0, i) + 1
                    before = raw_lines[first - 2].strip() if first >= 2 else ""
                    out.append((name, first, last, before.startswith(TABLE_MARK)))
            head_start = i + 1
        i += 1
    return out


def include_cycles(graph):
    """Circles of files that include each other, each as a list of paths."""
    cycles, state, path = [], {}, []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def main():
    global ROOT
    report = "--report" in sys.argv
    if "--root" in sys.argv:  # another checkout, e.g. an older commit's tree for a before/after table
        ROOT = os.path.abspath(sys.argv[sys.argv.index("--root") + 1])
    problems = []
    files = source_files()
    lines = {f: count_lines(f) for f in files}
    total = sum(lines.values())

    for f in sorted(files):
        if lines[f] > MAX_FILE_LINES:
            problems.append(f"{f}: {lines[f]} lines, more than {MAX_FILE_LINES}; split it by responsibility")

    rooms = {}
    for f in files:
        rooms[room_of(f)] = rooms.get(room_of(f), 0) + lines[f]
    for room, n in sorted(rooms.items(), key=lambda kv: -kv[1]):
        if n >= MAX_ROOM_SHARE * total:
            problems.append(f"{room}/: {n} of {total} lines ({100 * n / total:.1f}%), more than "
                            f"{100 * MAX_ROOM_SHARE:.0f}% or more; give part of it a room of its own")

    cpp = [f for f in files if f.endswith((".cpp", ".h"))]
    graph = {}
    for f in cpp:
        graph[f] = includes(f)
        mine = room_of(f)
        for inc in graph[f]:
            theirs = room_of(inc)
            if mine not in ROOMS or theirs not in ROOMS:
                problems.append(f"{f}: includes {inc}, and {mine if mine not in ROOMS else theirs}/ is no room "
                                "of scripts/check_tree.py's ROOMS; place it there")
            elif ROOMS.index(theirs) > ROOMS.index(mine):
                problems.append(f"{f}: includes {inc}, a room above {mine}/ (rooms, lowest first: "
                                f"{' '.join(ROOMS)})")
    for cycle in include_cycles(graph):
        problems.append("include circle: " + " -> ".join(cycle))

    lengths = []
    known = []
    for f in cpp:
        for name, first, last, table in functions(f):
            n = last - first + 1
            lengths.append(n)
            if n > MAX_FUNCTION_LINES and (f, name) in KNOWN_LONG:
                known.append(f"{f}:{first}: {name} is {n} lines, left: {KNOWN_LONG[(f, name)]}")
            elif n > MAX_FUNCTION_LINES and not table:
                problems.append(f"{f}:{first}: {name} is {n} lines, more than {MAX_FUNCTION_LINES} "
                                f"(split it; a function that is one table says so: '{TABLE_MARK} ...' above it)")
    median = statistics.median(lengths) if lengths else 0
    if median >= MAX_MEDIAN_FUNCTION_LINES:
        problems.append(f"median function length {median} lines, not under {MAX_MEDIAN_FUNCTION_LINES}")

    if report:
        print(f"{len(files)} files, {total} lines; {len(lengths)} functions, median {median} lines, "
              f"longest {max(lengths) if lengths else 0}")
        for room, n in sorted(rooms.items(), key=lambda kv: -kv[1]):
            print(f"  {room + '/':12s} {n:6d} lines {100 * n / total:5.1f}%")
        biggest = sorted(files, key=lambda f: -lines[f])[:5]
        print("  largest files: " + ", ".join(f"{f} {lines[f]}" for f in biggest))
        for k in known:
            print("  long on purpose: " + k)
    for p in problems:
        print("check_tree: " + p)
    if problems:
        print(f"check_tree: {len(problems)} problem(s)")
        return 1
    if report:
        print("check_tree: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
