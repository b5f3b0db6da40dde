#!/usr/bin/env python3
"""Entry point of the leakgate GitHub Action (Python 3 standard library only).

    leakgate_action.py install   # provide a leakgate binary (INPUT_VERSION: source | path | a tag); output `bin`
    leakgate_action.py run       # run the scenarios; outputs verdict, report, junit, ...

It maps the action's inputs (INPUT_* variables, set through `env:`) to one
`leakgate run` (or `leakgate merge`), and publishes what leakgate wrote,
knowing nothing of its reports beyond the run index both write
(`--runs-json`): every path, outcome and exit code. leakgate renders the
annotations itself (`--github-annotations`) and keeps its own output free of
any other workflow command. A release is downloaded as
`leakgate-<tag>-<target>.tar.gz` (`.zip` on Windows) and checked against the
release's SHA256SUMS (LEAKGATE_RELEASE_BASE_URL: a mirror, or file:// in tests).
"""

import glob
import hashlib
import io
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile

EXIT_ERROR = 2
VERDICTS = {0: "pass", 1: "fail", 2: "error"}


def annotate(level, message):
    message = str(message).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::{level} title=leakgate::{message}", flush=True)


def write_output(name, value):
    """Appends `name=value` (or the heredoc form for multi-line values) to $GITHUB_OUTPUT."""
    value = "" if value is None else str(value)
    if "\n" in value or "\r" in value:
        delimiter = "ghadelimiter_" + secrets.token_hex(16)
        text = f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    else:
        text = f"{name}={value}\n"
    with open(os.environ.get("GITHUB_OUTPUT") or os.devnull, "a", encoding="utf-8") as f:
        f.write(text)


# ---- untrusted text in the job summary and the log ------------------------------
# Scenario paths and error texts come from the repository under test (a fork's
# pull request, perhaps) and from leakgate. The job summary is rendered by
# GitHub's cmark-gfm, so they reach it only as code: a code span or a fenced
# block that nothing inside can close (as leakgate's own escape::md_fenced).


# Bidi controls, zero-width characters and the like (leakgate_scenario's
# `invisible`): they would reorder or hide the text around them.
INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f"


def visible(text):
    """Control characters (but newline and tab) as their Unicode control
    pictures (C0: U+2400 + code; DEL: U+2421; C1: U+FFFD), so an escape
    sequence or a carriage return shows instead of acting; invisible
    formatting characters by code point (`‹U+202E›`), as leakgate shows them."""
    def picture(m):
        code = ord(m.group())
        if code < 0x20:
            return chr(0x2400 + code)
        if code <= 0x9F:
            return "\u2421" if code == 0x7F else "\ufffd"
        return f"\u2039U+{code:04X}\u203a"
    return re.sub(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{INVISIBLE}]", picture, str(text))


def one_line(text):
    """`visible`, with newline and tab made visible too: one line of the log,
    which no name can split into a workflow command of its own."""
    return visible(text).replace("\n", "\u240a").replace("\t", "\u2409")


def md_code_span(text):
    """Inline code of any text: delimiters longer than its longest backtick
    run, padded with a space each side (CommonMark removes exactly one).
    cmark-gfm reads no delimiter over 80 backticks, so runs are cut at 59."""
    text = re.sub(r"`{59}(?=`)", r"\g<0> ", one_line(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {text} {ticks}"


def md_fenced(info, body):
    """A fenced block of any text (as leakgate's escape::md_fenced): controls
    made visible first, then a fence longer than any line of backticks alone
    (only such a line can close it); a line of 250 or more is indented four
    spaces instead, as cmark-gfm reads no fence of 256 backticks or more."""
    lines, longest = [], 0
    for line in visible(body).rstrip("\n").split("\n"):
        run = line.strip(" \t")
        if run and set(run) == {"`"}:
            if len(run) >= 250:
                line = "    " + line
            else:
                longest = max(longest, len(run))
        lines.append(line)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n" + "\n".join(lines) + f"\n{fence}\n"


# GitHub refuses a step summary over 1 MiB (and then shows none of it).
SUMMARY_LIMIT = 1000 * 1024
CHART_LINK = re.compile(r"\[([^\]\n]*)\]\((charts/[^)\s]+)\)")


def append_summary(markdown, out_dir):
    """Appends one summary.md; its relative chart links, which the job summary
    cannot follow, name the file in the uploaded artifact instead."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    prefix = os.path.basename(os.path.normpath(out_dir))
    # In a table cell: GFM reads `\|` inside code as `|` and a bare `|` as a new cell.
    markdown = CHART_LINK.sub(lambda m: md_code_span(f"{prefix}/{m.group(2)}").replace("|", "\\|"), markdown)
    used = os.path.getsize(path) if os.path.exists(path) else 0
    if used + len(markdown.encode("utf-8")) + 2 > SUMMARY_LIMIT:
        first = (markdown.splitlines() or ["## leakgate"])[0]
        markdown = f"{first}\n\n(summary too large for the job summary: see summary.md in the uploaded reports)\n"
    if used + len(markdown.encode("utf-8")) + 2 > SUMMARY_LIMIT:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(markdown.rstrip("\n") + "\n\n")


def expand_scenarios(text, kind=os.path.isfile):
    """Paths and globs in the order given, without duplicates; a pattern that
    matches nothing is an error (returned as a message). `kind` says which
    matches count (files; directories for `merge`)."""
    files, problems, seen = [], [], set()
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            patterns = shlex.split(line)
        except ValueError:  # unbalanced quotes: the line as one pattern
            patterns = [line]
        for pattern in patterns:
            matches = sorted(m for m in glob.glob(pattern, recursive=True) if kind(m))
            if not glob.has_magic(pattern):
                matches = [pattern]  # a missing file: leakgate says so, with the path
            if not matches:
                problems.append(f"no scenario file matches `{pattern}`")
            for m in matches:
                key = os.path.abspath(m)
                if key not in seen:
                    seen.add(key)
                    files.append(m)
    return files, problems


def run_command():
    workdir = os.environ.get("INPUT_WORKING_DIRECTORY", "").strip()
    if workdir:
        os.chdir(os.path.join(os.environ.get("GITHUB_WORKSPACE") or os.getcwd(), workdir))
    binary = os.environ.get("LEAKGATE_BIN", "").strip() or "leakgate"
    root = os.environ.get("INPUT_OUT_DIR", "").strip() or "leakgate-out"
    upload = os.environ.get("INPUT_UPLOAD_ARTIFACTS", "reports").strip().lower() or "reports"
    try:
        extra = shlex.split(os.environ.get("INPUT_ARGS", ""))
    except ValueError as e:
        return finish(None, EXIT_ERROR, root, upload, f"cannot parse the `args` input: {e}")
    if any(a in ("--out", "-o") or a.startswith("--out=") for a in extra):
        return finish(None, EXIT_ERROR, root, upload, "`args` must not set --out: the action chooses the output directories")
    merging, problems = expand_scenarios(os.environ.get("INPUT_MERGE", ""), os.path.isdir)
    if merging or problems:
        if problems:
            return finish(None, EXIT_ERROR, root, upload, "; ".join(problems))
        return merge_command(binary, merging, root, upload)
    scenarios, problems = expand_scenarios(os.environ.get("INPUT_SCENARIO", ""))
    if problems or not scenarios:
        return finish(None, EXIT_ERROR, root, upload, "; ".join(problems) or "the `scenario` input is empty")
    shard = os.environ.get("INPUT_SHARD", "").strip()
    extra = (["--shard", shard] if shard else []) + extra

    os.makedirs(root, exist_ok=True)
    index_path = os.path.join(root, "runs.json")
    argv = [binary, "run", *scenarios, "--out", root, "--github-annotations", "--runs-json", index_path, *extra]
    index, code, error = run_indexed(argv, index_path, binary)
    if error:
        return finish(None, code, root, upload, error)
    if os.environ.get("INPUT_SUMMARY", "true").strip().lower() not in ("false", "0", "no", "off"):
        for run in index.get("runs", []):
            files = run.get("files")
            if files:
                with open(os.path.join(files["out_dir"], files["summary_md"]), encoding="utf-8") as f:
                    append_summary(f.read(), files["out_dir"])
            else:
                heading = f"## leakgate: {md_code_span(run.get('scenario_file'))} — could not run"
                append_summary(f"{heading}\n\n{md_fenced('text', run.get('error'))}", ".")
    return finish(index, code, root, upload, None, index_path)


def run_indexed(argv, index_path, binary):
    """Runs leakgate with `--runs-json index_path`; returns (index, exit code,
    error). The exit code is the index's (the worst outcome's), never better
    than the process's own; no index, or a code leakgate does not use, is an
    error."""
    if os.path.exists(index_path):
        os.remove(index_path)
    print(one_line("+ " + " ".join(shlex.quote(a) for a in argv)), flush=True)
    try:
        code = subprocess.run(argv, stdin=subprocess.DEVNULL).returncode
    except OSError as e:
        return None, EXIT_ERROR, f"cannot start `{binary}`: {e}"
    if code not in VERDICTS:
        code = EXIT_ERROR  # killed by a signal, or a code leakgate does not use
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError):
        return None, EXIT_ERROR, f"leakgate wrote no run index (exit code {code})"
    indexed = index.get("exit_code") if isinstance(index, dict) else None
    if indexed not in VERDICTS:
        return None, EXIT_ERROR, f"leakgate wrote a run index without a known exit code (exit code {code})"
    return index, max(code, indexed), None


def merge_command(binary, dirs, root, upload):
    """`leakgate merge`: the shards' reports into one report, JUnit file and summary."""
    index_path = os.path.join(root, "runs.json")
    argv = [binary, "merge", *dirs, "--out", root, "--runs-json", index_path]
    index, code, error = run_indexed(argv, index_path, binary)
    if error:
        return finish(None, code, root, upload, error)
    for run in index.get("runs", []):
        files = run.get("files")
        if files:
            with open(os.path.join(files["out_dir"], files["summary_md"]), encoding="utf-8") as f:
                append_summary(f.read(), files["out_dir"])
    return finish(index, code, root, upload, None)


def finish(index, code, root, upload, error, index_path=None):
    if error:
        annotate("error", error)
    runs = (index or {}).get("runs", [])
    located = [r["files"] for r in runs if r.get("files")]
    reports = [os.path.abspath(os.path.join(f["out_dir"], f["report_json"])) for f in located]
    junit = [os.path.abspath(os.path.join(f["out_dir"], f["junit_xml"])) for f in located]
    single = len(runs) == 1 and reports
    write_output("verdict", VERDICTS[code])
    write_output("exit-code", str(code))
    write_output("report", reports[0] if single else (os.path.abspath(index_path) if index_path else ""))
    write_output("reports", "\n".join(reports))
    write_output("junit", "\n".join(j for j in junit if os.path.isfile(j)))
    # An empty shard ran nothing but says so in its run index (runs.json
    # under root): uploaded, so that the final merge reports it.
    kept = bool(runs) or bool((index or {}).get("shard"))
    write_output("out-dir", os.path.abspath(root) if kept else "")
    paths = ""
    if kept and upload != "none":
        paths = os.path.abspath(root)
        if upload != "dumps":
            # Dumps hold secrets: uploaded only when asked for.
            paths += "\n!" + os.path.join(os.path.abspath(root), "**", "dumps", "**")
    write_output("artifact-paths", paths)
    print(f"leakgate: {VERDICTS[code]} ({len(runs)} scenario{'s' if len(runs) != 1 else ''}, exit code {code})", flush=True)
    return code


# ---- install -----------------------------------------------------------------


def release_target():
    runner_os = os.environ.get("RUNNER_OS") or {"Linux": "Linux", "Darwin": "macOS", "Windows": "Windows"}.get(
        platform.system(), platform.system()
    )
    arch = (os.environ.get("RUNNER_ARCH") or platform.machine()).upper()
    cpu = {"X64": "x86_64", "AMD64": "x86_64", "X86_64": "x86_64", "ARM64": "aarch64", "AARCH64": "aarch64"}.get(arch)
    system = {"Linux": "unknown-linux-gnu", "macOS": "apple-darwin", "Windows": "pc-windows-msvc"}.get(runner_os)
    if cpu is None or system is None:
        raise SystemExit(f"no leakgate release for {runner_os}/{arch}; use `version: source`")
    return f"{cpu}-{system}", runner_os == "Windows"


def fetch(url):
    request = urllib.request.Request(url, headers={"User-Agent": "leakgate-action"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()


def parse_sums(text):
    """`sha256sum` output: `<hex>  <name>` or `<hex> *<name>` per line."""
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


def extract_binary(archive, data, exe):
    if archive.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                if os.path.basename(info.filename) == exe and not info.is_dir():
                    return z.read(info)
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
            for member in t.getmembers():
                if os.path.basename(member.name) == exe and member.isfile():
                    return t.extractfile(member).read()
    raise SystemExit(f"{archive} holds no `{exe}`")


def install_release(tag, dest):
    if tag[:1].isdigit():
        tag = "v" + tag
    target, windows = release_target()
    archive = f"leakgate-{tag}-{target}.{'zip' if windows else 'tar.gz'}"
    base = os.environ.get("LEAKGATE_RELEASE_BASE_URL", "").strip()
    if not base:
        repo = os.environ.get("LEAKGATE_REPOSITORY") or os.environ.get("GITHUB_ACTION_REPOSITORY")
        if not repo:
            raise SystemExit("cannot tell which repository's releases to use: set LEAKGATE_REPOSITORY")
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        base = f"{server}/{repo}/releases/download"
    base = f"{base.rstrip('/')}/{tag}"
    print(f"Downloading {archive} from {base}", flush=True)
    sums = parse_sums(fetch(f"{base}/SHA256SUMS").decode("utf-8", "replace"))
    expected = sums.get(archive)
    if not expected:
        raise SystemExit(f"SHA256SUMS of {tag} lists no {archive}")
    data = fetch(f"{base}/{archive}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise SystemExit(f"checksum mismatch for {archive}: expected {expected}, got {actual}")
    print(f"SHA-256 verified: {actual}", flush=True)
    exe = "leakgate.exe" if windows else "leakgate"
    binary = extract_binary(archive, data, exe)
    os.makedirs(dest, exist_ok=True)
    path = os.path.join(dest, exe)
    with open(path, "wb") as f:
        f.write(binary)
    os.chmod(path, 0o755)
    return path


def install_source(dest):
    action_path = os.environ.get("GITHUB_ACTION_PATH") or os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(action_path, ".."))
    # The workspace root is a virtual manifest: install the package that holds the binary.
    package = os.path.join(root, "crates", "leakgate-cli")
    if not os.path.isfile(os.path.join(package, "Cargo.toml")):
        package = root
    cargo = shutil.which("cargo")
    if not cargo:
        raise SystemExit("`version: source` needs cargo: add a Rust toolchain step (e.g. dtolnay/rust-toolchain@stable)")
    argv = [cargo, "install", "--locked", "--path", package, "--root", dest]
    print(one_line("+ " + " ".join(shlex.quote(a) for a in argv)), flush=True)
    subprocess.run(argv, check=True)
    exe = "leakgate.exe" if os.name == "nt" else "leakgate"
    return os.path.join(dest, "bin", exe)


def install_command():
    version = os.environ.get("INPUT_VERSION", "").strip() or "source"
    dest = os.environ.get("LEAKGATE_INSTALL_DIR") or os.path.join(
        os.environ.get("RUNNER_TEMP") or os.path.abspath(".leakgate"), "leakgate-bin"
    )
    if version == "path":
        path = shutil.which("leakgate")
        if not path:
            raise SystemExit("`version: path` but no leakgate on PATH")
    elif version == "source":
        path = install_source(dest)
    else:
        path = install_release(version, dest)
    subprocess.run([path, "--version"], check=False)
    write_output("bin", path)
    return 0


def main(argv):
    what = argv[1] if len(argv) > 1 else "run"
    if what == "run":
        return run_command()
    if what == "install":
        try:
            return install_command()
        except SystemExit as e:
            if isinstance(e.code, str):
                annotate("error", e.code)
                return EXIT_ERROR
            raise
        except (OSError, subprocess.CalledProcessError) as e:
            annotate("error", f"cannot install leakgate: {e}")
            return EXIT_ERROR
    sys.stderr.write(f"usage: {argv[0]} [run|install]\n")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv))
