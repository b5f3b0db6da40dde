#!/usr/bin/env python3
"""Entry point of the leakgate GitHub Action (Python 3 standard library only).

Two commands, both configured through environment variables only (the
composite action maps its inputs to `INPUT_*` variables in `env:`, never by
expanding `${{ }}` inside a script):

    leakgate_action.py install   # provide a leakgate binary; output `bin`
    leakgate_action.py run       # run the scenarios; outputs verdict, report, junit, ...

`run`
  INPUT_SCENARIO           paths or globs (`**` allowed), one per line or
                           separated by spaces (shell-style quoting)
  INPUT_ARGS               extra `leakgate run` arguments (shell-style quoting)
  INPUT_WORKING_DIRECTORY  directory to run in (relative to GITHUB_WORKSPACE)
  INPUT_SUMMARY            true|false: append summary.md to GITHUB_STEP_SUMMARY
  INPUT_UPLOAD_ARTIFACTS   reports|dumps|none: shapes the `artifact-paths` output
  INPUT_OUT_DIR            output root (default `leakgate-out`)
  LEAKGATE_BIN             the binary (default `leakgate` on PATH)

  For each scenario it runs `leakgate run <scenario> --out <root>/<stem>`,
  streams its output (with workflow commands stopped, so nothing the service
  prints can act as one), reads report.json, writes annotations on the
  scenario file, appends summary.md to the job summary and writes the
  outputs. It exits with the worst exit code of the runs (2 > 1 > 0).

`install`
  INPUT_VERSION  `source` (default): `cargo install --locked` from the
                 action's own checkout (GITHUB_ACTION_PATH/..);
                 `path`: use `leakgate` already on PATH;
                 a release tag (`v0.3.0`; `0.3.0` means `v0.3.0`): download
                 `leakgate-<tag>-<target>.tar.gz` (`.zip` on Windows) from the
                 repository's GitHub release and check it against the
                 release's `SHA256SUMS`.
  LEAKGATE_REPOSITORY        owner/name of the releases (default: the action's
                             repository, GITHUB_ACTION_REPOSITORY)
  LEAKGATE_RELEASE_BASE_URL  overrides `<server>/<repo>/releases/download`
                             (a mirror, or file:// in tests)
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
from collections import deque

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
VERDICTS = {EXIT_PASS: "pass", EXIT_FAIL: "fail", EXIT_ERROR: "error"}


# ---- workflow commands -------------------------------------------------------


def escape_data(s):
    """Escapes the message of a workflow command."""
    return str(s).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s):
    """Escapes a property value (file=, line=, title=) of a workflow command."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(name, message, **properties):
    """`::name k=v,k=v::message`, every part escaped; None properties left out."""
    props = ",".join(
        f"{k}={escape_property(v)}" for k, v in properties.items() if v is not None and v != ""
    )
    head = f"{name} {props}" if props else name
    return f"::{head}::{escape_data(message)}"


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def annotate(level, message, file=None, line=None, title=None):
    emit(command(level, message, file=file, line=line, title=title))


def env_bool(name, default):
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    return value in ("1", "true", "yes", "on")


def write_output(name, value):
    """Appends `name=value` (or the heredoc form for multi-line values) to $GITHUB_OUTPUT."""
    value = "" if value is None else str(value)
    path = os.environ.get("GITHUB_OUTPUT")
    if "\n" in value or "\r" in value:
        delimiter = "ghadelimiter_" + secrets.token_hex(16)
        while delimiter in value:
            delimiter = "ghadelimiter_" + secrets.token_hex(16)
        text = f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    else:
        text = f"{name}={value}\n"
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    else:
        # Run outside Actions: show what would have been set.
        sys.stderr.write(f"output {text}")


CHART_LINK = re.compile(r"\[([^\]\n]*)\]\((charts/[^)\s]+)\)")


def summary_for_job(markdown, out_dir):
    """summary.md links its charts relatively, which the job summary cannot
    follow: name the file in the uploaded artifact instead of a dead link."""
    prefix = os.path.basename(os.path.normpath(out_dir))
    return CHART_LINK.sub(lambda m: f"`{prefix}/{m.group(2)}`", markdown)


# GitHub refuses a step summary over 1 MiB (and then shows none of it).
SUMMARY_LIMIT = 1000 * 1024


def append_summary(markdown):
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    if used + len(markdown.encode("utf-8")) + 2 > SUMMARY_LIMIT:
        first = markdown.splitlines()[0] if markdown.strip() else "## leakgate"
        markdown = f"{first}\n\n(summary too large for the job summary: see summary.md in the uploaded reports)\n"
        if used + len(markdown.encode("utf-8")) + 2 > SUMMARY_LIMIT:
            return
    with open(path, "a", encoding="utf-8") as f:
        f.write(markdown)
        if not markdown.endswith("\n"):
            f.write("\n")
        f.write("\n")


# ---- scenarios ---------------------------------------------------------------


def split_patterns(text):
    patterns = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            patterns.extend(shlex.split(line))
        except ValueError:
            patterns.append(line)
    return patterns


def expand_scenarios(text):
    """Expands paths and globs, in the order given, without duplicates.

    Returns (files, problems): a pattern that matches nothing is a problem."""
    files, problems, seen = [], [], set()
    for pattern in split_patterns(text):
        if glob.has_magic(pattern):
            matches = sorted(m for m in glob.glob(pattern, recursive=True) if os.path.isfile(m))
            if not matches:
                problems.append((pattern, f"no scenario file matches `{pattern}`"))
        else:
            matches = [pattern]
            if not os.path.isfile(pattern):
                problems.append((pattern, f"scenario file `{pattern}` not found"))
                continue
        for m in matches:
            key = os.path.normcase(os.path.abspath(m))
            if key not in seen:
                seen.add(key)
                files.append(m)
    return files, problems


def workspace_path(path):
    """A path as annotations want it: relative to GITHUB_WORKSPACE when inside it."""
    absolute = os.path.abspath(path)
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        rel = os.path.relpath(absolute, os.path.abspath(workspace))
        if not rel.startswith(".."):
            return rel.replace(os.sep, "/")
    return absolute.replace(os.sep, "/")


def budget_lines_from_yaml(path):
    """1-based line of each `budgets:` entry, by a lenient line scan.

    Only a fallback for reports without `budget_lines`: block sequences under
    a top-level `budgets:` key."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    result, inside, item_indent = [], False, None
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not inside:
            if raw.startswith("budgets:") and raw[len("budgets:"):].split("#")[0].strip() == "":
                inside = True
            continue
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        is_item = stripped == "-" or stripped.startswith("- ")
        if indent == 0 and not is_item:
            break  # the next top-level key
        if is_item and (item_indent is None or indent == item_indent):
            item_indent = indent
            result.append(number)
        elif item_indent is not None and indent < item_indent:
            break
    return result


# ---- one run -----------------------------------------------------------------


def out_dir_for(root, scenario, used):
    stem = os.path.splitext(os.path.basename(scenario))[0] or "scenario"
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return os.path.join(root, name)


def run_leakgate(binary, scenario, out_dir, extra):
    """Runs one scenario, streaming its output. Returns (exit code, last lines)."""
    argv = [binary, "run", scenario, "--out", out_dir] + extra
    emit(command("group", f"leakgate run {scenario}"))
    # Nothing leakgate or the service prints may act as a workflow command.
    token = secrets.token_hex(16)
    emit(f"::stop-commands::{token}")
    tail = deque(maxlen=20)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as e:
        emit(f"::{token}::")
        emit("::endgroup::")
        return EXIT_ERROR, [f"cannot start `{binary}`: {e}"]
    try:
        for raw in proc.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.flush()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if text.strip():
                tail.append(text)
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    finally:
        emit(f"::{token}::")
        emit("::endgroup::")
    if code < 0 or code > EXIT_ERROR:
        # Killed by a signal, or a code leakgate does not use: it could not run.
        tail.append(f"leakgate ended with status {code}")
        code = EXIT_ERROR
    return code, list(tail)


def load_report(out_dir):
    path = os.path.join(out_dir, "report.json")
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        return (report if isinstance(report, dict) else None), path
    except (OSError, ValueError):
        return None, path


def as_list(value):
    return value if isinstance(value, list) else []


def check_subject(check):
    metric = str(check.get("metric") or "")
    type_name = check.get("type_name")
    return f"{metric} {type_name}".strip() if type_name else metric


def annotate_report(report, scenario, file):
    """Annotations for one judged (or failed) run. Returns how many were written."""
    count = 0
    name = report.get("scenario") or scenario
    lines = as_list(report.get("budget_lines")) or budget_lines_from_yaml(scenario)
    failure = report.get("failure")
    if failure:
        annotate("error", str(failure), file=file, title=f"leakgate could not run {name}")
        count += 1
    verdict = report.get("verdict") if isinstance(report.get("verdict"), dict) else {}
    for check in as_list(verdict.get("checks")):
        if not isinstance(check, dict):
            continue
        status = check.get("status")
        if status not in ("fail", "warn"):
            continue
        line = None
        index = check.get("budget_index")
        if isinstance(index, int) and 0 <= index < len(lines):
            line = lines[index]
        budget = check.get("budget") or f"budget {index}"
        subject = check_subject(check)
        reasons = [str(r) for r in as_list(check.get("reasons"))]
        message = f"{subject}: " if subject else ""
        message += "; ".join(reasons) if reasons else f"{status}s the budget"
        title = f"leakgate {name}: {budget}"
        annotate("error" if status == "fail" else "warning", message, file=file, line=line, title=title)
        count += 1
    snapshot = report.get("snapshot")
    if isinstance(snapshot, dict) and snapshot.get("outcome") == "differs":
        new_growth = [str(g) for g in as_list(snapshot.get("new_growth"))]
        if new_growth:
            message = (
                "New growth versus the approved snapshot: "
                + ", ".join(new_growth)
                + ". If it is expected, run `leakgate review` (or `leakgate accept`) and commit the snapshot.\n"
                + str(snapshot.get("diff") or "")
            )
            annotate("error", message.rstrip("\n"), file=file, title=f"leakgate {name}: new growth")
            count += 1
        else:
            annotate(
                "notice",
                "The snapshot changed (no new growth); review it with `leakgate review`.\n"
                + str(snapshot.get("diff") or ""),
                file=file,
                title=f"leakgate {name}: snapshot changed",
            )
    elif isinstance(snapshot, dict) and snapshot.get("outcome") == "missing":
        annotate(
            "notice",
            "No approved snapshot yet: run `leakgate run --record` or accept the .snap.new, and commit it.",
            file=file,
            title=f"leakgate {name}: no snapshot",
        )
    return count


def run_command():
    workdir = os.environ.get("INPUT_WORKING_DIRECTORY", "").strip()
    if workdir:
        base = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
        os.chdir(os.path.join(base, workdir))
    binary = os.environ.get("LEAKGATE_BIN", "").strip() or "leakgate"
    try:
        extra = shlex.split(os.environ.get("INPUT_ARGS", ""))
    except ValueError as e:
        annotate("error", f"cannot parse the `args` input: {e}", title="leakgate")
        return finish([], EXIT_ERROR, None)
    for forbidden in ("--out", "-o"):
        if forbidden in extra or any(a.startswith("--out=") for a in extra):
            annotate("error", "`args` must not set --out: the action chooses the output directories", title="leakgate")
            return finish([], EXIT_ERROR, None)
    summary = env_bool("INPUT_SUMMARY", True)
    root = os.environ.get("INPUT_OUT_DIR", "").strip() or "leakgate-out"

    scenarios, problems = expand_scenarios(os.environ.get("INPUT_SCENARIO", ""))
    worst = EXIT_PASS
    for pattern, message in problems:
        annotate("error", message, file=workspace_path(pattern) if os.path.exists(pattern) else None, title="leakgate")
        worst = EXIT_ERROR
    if not scenarios and not problems:
        annotate("error", "the `scenario` input is empty", title="leakgate")
        worst = EXIT_ERROR

    runs, used = [], set()
    for scenario in scenarios:
        out_dir = out_dir_for(root, scenario, used)
        for stale in ("report.json", "junit.xml", "summary.md"):
            try:
                os.remove(os.path.join(out_dir, stale))
            except OSError:
                pass
        code, tail = run_leakgate(binary, scenario, out_dir, extra)
        report, report_path = load_report(out_dir)
        file = workspace_path(scenario)
        if report is None:
            # No report: the scenario did not load, or leakgate could not start.
            code = EXIT_ERROR if code == EXIT_PASS else code
            message = "\n".join(tail) or f"leakgate wrote no report (exit code {code})"
            annotate("error", message, file=file, title=f"leakgate could not run {scenario}")
            if summary:
                append_summary(
                    f"## leakgate: {scenario}\n\n**Could not run** (exit code {code}).\n\n```text\n{message}\n```\n"
                )
        else:
            annotate_report(report, scenario, file)
            if summary:
                try:
                    with open(os.path.join(out_dir, "summary.md"), encoding="utf-8") as f:
                        append_summary(summary_for_job(f.read(), out_dir))
                except OSError:
                    status = report.get("status", VERDICTS.get(code))
                    append_summary(f"## leakgate: {report.get('scenario') or scenario}\n\nStatus: **{status}** (no summary.md was written).\n")
        junit = os.path.join(out_dir, "junit.xml")
        runs.append(
            {
                "scenario_file": scenario,
                "out_dir": out_dir,
                "exit_code": code,
                "verdict": VERDICTS[code],
                "report": report_path if report is not None else None,
                "junit": junit if os.path.isfile(junit) else None,
                "status": report.get("status") if report else None,
            }
        )
        worst = max(worst, code)
    return finish(runs, worst, root)


def finish(runs, worst, root):
    verdict = VERDICTS[worst]
    reports = [r["report"] for r in runs if r["report"]]
    if len(runs) == 1 and reports:
        report = os.path.abspath(reports[0])
    elif runs:
        # Several scenarios: a combined report listing every run and its report.
        os.makedirs(root, exist_ok=True)
        combined = os.path.join(root, "combined-report.json")
        with open(combined, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "verdict": verdict,
                    "exit_code": worst,
                    "runs": [
                        dict(r, report=os.path.abspath(r["report"]) if r["report"] else None,
                             junit=os.path.abspath(r["junit"]) if r["junit"] else None,
                             out_dir=os.path.abspath(r["out_dir"]))
                        for r in runs
                    ],
                },
                f,
                indent=2,
            )
            f.write("\n")
        report = os.path.abspath(combined)
    else:
        report = ""
    upload = os.environ.get("INPUT_UPLOAD_ARTIFACTS", "reports").strip().lower() or "reports"
    if upload not in ("reports", "dumps", "none"):
        annotate("warning", f"upload-artifacts: expected reports, dumps or none, got `{upload}`; uploading reports", title="leakgate")
        upload = "reports"
    artifact_paths = ""
    if root and upload != "none" and runs:
        absolute_root = os.path.abspath(root)
        artifact_paths = absolute_root
        if upload != "dumps":
            # Dumps hold secrets: only uploaded when asked for.
            artifact_paths += "\n!" + os.path.join(absolute_root, "**", "dumps", "**")
    write_output("verdict", verdict)
    write_output("exit-code", str(worst))
    write_output("report", report)
    write_output("reports", "\n".join(os.path.abspath(p) for p in reports))
    write_output("junit", "\n".join(os.path.abspath(r["junit"]) for r in runs if r["junit"]))
    write_output("out-dir", os.path.abspath(root) if root and runs else "")
    write_output("artifact-paths", artifact_paths)
    emit(f"leakgate: {verdict} ({len(runs)} scenario{'s' if len(runs) != 1 else ''}, exit code {worst})")
    return worst


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
    print("+ " + " ".join(shlex.quote(a) for a in argv), flush=True)
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
                annotate("error", e.code, title="leakgate install")
                return EXIT_ERROR
            raise
        except (OSError, subprocess.CalledProcessError) as e:
            annotate("error", f"cannot install leakgate: {e}", title="leakgate install")
            return EXIT_ERROR
    sys.stderr.write(f"usage: {argv[0]} [run|install]\n")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv))
