"""``deepfake-detect``: classify images from the command line.

Exit codes: 0 success, 1 a call or a file failed (or the server is unhealthy), 2 usage error, 130 interrupted.
They never depend on the verdict (Real, Deepfake or Uncertain): read it from the output.
Errors that would fail every call the same way (server down, bad API key) stop the command with one line.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from ._version import __version__
from .client import DEFAULT_TARGET, DEFAULT_TIMEOUT, DeepfakeClient
from .errors import (
    AuthenticationError,
    DeepfakeError,
    OverloadedError,
    PermissionDeniedError,
    UnavailableError,
)
from .models import DEEPFAKE, REAL, UNCERTAIN, VERDICTS, Health, ModelInfo, Prediction

PROG = "deepfake-detect"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
# New columns go at the end, so that readers of the older columns by position keep working.
SCAN_FIELDS = (
    "path", "prediction", "confidence", "fake_probability", "faces", "face_found", "request_id", "error", "heatmap",
    "verdict",
)
NEEDS_A_LOOK = "needs a human look"
# Errors that say nothing about the image: every further call would fail the same way, so stop at once.
_FATAL = (UnavailableError, AuthenticationError, PermissionDeniedError)
_OVERLOAD_RETRIES = 3
_MAX_BACKOFF_S = 30.0


class _UsageError(Exception):
    """A bad argument found after parsing (exit code 2)."""


# ---------------------------------------------------------------------------------------------------- parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="HOST:PORT", help="server address (default: $DEEPFAKE_SERVER or "
                        f"{DEFAULT_TARGET})")
    parser.add_argument("--api-key", metavar="KEY",
                        help="API key sent as a bearer token (default: $DEEPFAKE_API_KEY; prefer the variable, "
                        "a flag is visible to other users in the process list)")
    parser.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                        help=f"deadline per call (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--tls", action="store_true", help="use TLS with the system's root certificates")
    parser.add_argument("--ca-cert", metavar="PATH", help="use TLS, trusting this PEM CA certificate")


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; defaults come from ``environ`` (the process environment when None)."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog=PROG, description="Detect deepfaked faces in images with a deepfake detection server.",
        epilog="exit codes: 0 ok, 1 a call or file failed, 2 usage error (never the verdict: Real, Deepfake "
        "or Uncertain is in the output)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _connection_options(parser)
    parser.set_defaults(server=env.get("DEEPFAKE_SERVER") or DEFAULT_TARGET, api_key=env.get("DEEPFAKE_API_KEY"),
                        timeout=DEFAULT_TIMEOUT)
    # The connection options are accepted after the subcommand too; SUPPRESS keeps the top-level values
    # (and the environment defaults) unless they are given there.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _connection_options(common)

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    predict = commands.add_parser("predict", parents=[common], help="classify one or more images",
                                  description="Classify each image and print the verdict.")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG or WebP file")
    predict.add_argument("--explain", action="store_true", help="also compute a Grad-CAM heatmap (slower)")
    predict.add_argument("--face-crop", action="store_true",
                         help="the images are face crops: skip face detection")
    predict.add_argument("--json", action="store_true", help="print one JSON object per image (JSON Lines)")
    predict.add_argument("--heatmap-dir", metavar="DIR",
                         help="save heatmaps there as <stem>.heatmap.png (implies --explain)")

    scan = commands.add_parser("scan", parents=[common], help="classify every image in a folder",
                               description="Classify every .jpg/.jpeg/.png/.webp file in a folder, concurrently, "
                               "and write one row per file.")
    scan.add_argument("folder", metavar="FOLDER")
    scan.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    scan.add_argument("-j", "--concurrency", type=_positive_int, default=4, metavar="N",
                      help="requests in flight (default: 4)")
    scan.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default: csv)")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the rows there (default: stdout)")
    scan.add_argument("--explain", action="store_true", help="also compute Grad-CAM heatmaps (slower)")
    scan.add_argument("--heatmap-dir", metavar="DIR",
                      help="save heatmaps there, named after each file's relative path (implies --explain)")
    scan.add_argument("--face-crop", action="store_true", help="the images are face crops: skip face detection")

    history = commands.add_parser("history", parents=[common], help="list recorded predictions, newest first",
                                  description="List the server's prediction history, newest first.")
    history.add_argument("--verdict", choices=VERDICTS, help="only this verdict")
    history.add_argument("--since", metavar="TIME", default="", help="RFC 3339 start time, e.g. 2026-11-26T00:00:00Z")
    history.add_argument("--until", metavar="TIME", default="", help="RFC 3339 end time (exclusive)")
    history.add_argument("--limit", type=_positive_int, default=50, help="records to show (default 50)")
    history.add_argument("--json", action="store_true", help="print one JSON object per record")

    for name, text in (("health", "show the server's health (exit code 1 unless healthy)"),
                       ("model-info", "show the model that answers and its measured quality")):
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting so that it can be called in-process."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        with _make_client(args) as client:
            return _COMMANDS[args.command](args, client)
    except _UsageError as exc:
        _error(str(exc))
        return 2
    except UnavailableError as exc:
        _error(f"cannot reach the server at {args.server}: {exc.details} "
               "(is it running? set --server or $DEEPFAKE_SERVER)")
        return 1
    except DeepfakeError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # stdout closed early (`| head`): stop quietly, as Unix tools do
        # Point stdout at devnull so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _make_client(args: argparse.Namespace) -> DeepfakeClient:
    root_certificates = None
    if args.ca_cert:
        try:
            root_certificates = Path(args.ca_cert).read_bytes()
        except OSError as exc:
            raise _UsageError(f"cannot read --ca-cert: {_os_error_text(exc)}") from None
    return DeepfakeClient(args.server, api_key=args.api_key, timeout=args.timeout,
                          root_certificates=root_certificates, tls=args.tls)


def _heatmap_writer(args: argparse.Namespace) -> HeatmapWriter | None:
    if not args.heatmap_dir:
        return None
    try:
        return HeatmapWriter(Path(args.heatmap_dir))
    except OSError as exc:
        raise _UsageError(f"cannot use --heatmap-dir: {_os_error_text(exc)}") from None


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _os_error_text(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _error_text(exc: Exception) -> str:
    return _os_error_text(exc) if isinstance(exc, OSError) else str(exc)


# ---------------------------------------------------------------------------------------------------- heatmaps


class HeatmapWriter:
    """Writes heatmap PNGs into one folder, under sanitised, unique names (thread-safe).

    Names come from client-side paths, so they are reduced to ``[A-Za-z0-9._-]`` without leading dots: no
    separator or ``..`` can take a write outside the folder, and symlinks there are not followed.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._lock = threading.Lock()
        self._used: set[str] = set()

    def write(self, name_hint: str, png: bytes) -> Path:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", name_hint).strip("._")[:120] or "image"
        with self._lock:  # two images of one run never share a heatmap file (x.jpg and x.png, a/x and b/x)
            stem, n = base, 1
            while stem in self._used:
                n += 1
                stem = f"{base}-{n}"
            self._used.add(stem)
        path = self.directory / f"{stem}.heatmap.png"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(path, flags, 0o644), "wb") as fh:
            fh.write(png)
        return path


# ---------------------------------------------------------------------------------------------------- predict


def _prediction_dict(result: Prediction) -> dict[str, Any]:
    """JSON-ready fields of a prediction; the heatmap is saved to a file, never inlined."""
    data = dataclasses.asdict(result)
    del data["heatmap_png"]
    data["is_deepfake"] = result.is_deepfake
    data["is_uncertain"] = result.is_uncertain
    return data


def _verdict_text(verdict: str, prediction: str, confidence: float) -> str:
    """'Real (97.0% confident)', or 'Uncertain — needs a human look (leans Real, 62.0%)'."""
    if verdict == UNCERTAIN:
        return f"{UNCERTAIN} — {NEEDS_A_LOOK} (leans {prediction}, {confidence:.1f}%)"
    return f"{verdict} ({confidence:.1f}% confident)"


def _format_prediction(label: str, result: Prediction, heatmap: Path | None, explain: bool) -> str:
    lines = [f"{label}: {_verdict_text(result.verdict, result.prediction, result.confidence)}"
             f" | fake probability {result.fake_probability:.3f}, threshold {result.threshold:.2f}"]
    if result.explanation:
        lines.append(f"  {result.explanation}")
    if result.faces:
        lines.append(f"  faces: {len(result.faces)}")
        for i, face in enumerate(result.faces, 1):
            b = face.box
            lines.append(f"    #{i} {_verdict_text(face.verdict, face.label, face.confidence)}"
                         f"  fake probability {face.fake_probability:.3f}"
                         f"  box ({b.x_min:.0f}, {b.y_min:.0f})-({b.x_max:.0f}, {b.y_max:.0f})"
                         f"  face score {face.detection_confidence:.2f}")
    else:
        lines.append("  no face found: the whole image was classified")
    t = result.timings
    lines.append(f"  image {result.image_width}x{result.image_height} | model {result.model} ({result.engine}, "
                 f"{result.device}) | request {result.request_id}")
    lines.append(f"  timings: decode {t.decode_ms:.1f} ms, faces {t.faces_ms:.1f} ms, inference "
                 f"{t.inference_ms:.1f} ms, grad-cam {t.gradcam_ms:.1f} ms, total {t.total_ms:.1f} ms")
    if heatmap is not None:
        lines.append(f"  heatmap: {heatmap}")
    elif result.heatmap_png is not None:
        lines.append(f"  heatmap: {len(result.heatmap_png)} bytes received (pass --heatmap-dir to save it)")
    elif explain:
        lines.append("  heatmap: not available from this server")
    return "\n".join(lines)


def _cmd_predict(args: argparse.Namespace, client: DeepfakeClient) -> int:
    heatmaps = _heatmap_writer(args)
    explain = args.explain or heatmaps is not None
    failed = 0
    for image in args.images:
        path = Path(image)
        try:
            result = client.predict(path, explain=explain, is_face_crop=args.face_crop)
            heatmap = heatmaps.write(path.stem, result.heatmap_png) if heatmaps and result.heatmap_png else None
        except _FATAL:
            raise
        except (DeepfakeError, OSError) as exc:
            failed += 1
            if args.json:
                print(json.dumps({"path": image, "error": _error_text(exc)}), flush=True)
            else:
                _error(f"{image}: {_error_text(exc)}")
            continue
        if args.json:
            record = {"path": image, **_prediction_dict(result), "heatmap_path": str(heatmap) if heatmap else None}
            print(json.dumps(record), flush=True)
        else:
            print(_format_prediction(image, result, heatmap, explain), flush=True)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------------- scan


def find_images(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Image files under ``folder``, sorted. Hidden files are skipped (macOS ``._x.jpg`` are not images)."""
    if recursive:
        found = [Path(root) / name for root, _, names in os.walk(folder) for name in names]
    else:
        found = [entry for entry in folder.iterdir() if entry.is_file()]
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


@dataclasses.dataclass(frozen=True, slots=True)
class ScanRow:
    """One output row of ``scan``: a verdict or an error."""

    path: str
    prediction: str | None = None
    confidence: float | None = None
    fake_probability: float | None = None
    faces: int | None = None
    face_found: bool | None = None
    request_id: str | None = None
    error: str | None = None
    heatmap: str | None = None
    verdict: str | None = None


class _RowWriter:
    """Streams rows as CSV or as one JSON array, flushing each so partial results survive an interruption."""

    def __init__(self, out: IO[str], fmt: str) -> None:
        self._out = out
        self._json = fmt == "json"
        self._first = True
        if self._json:
            out.write("[")
        else:
            self._csv = csv.writer(out)
            self._csv.writerow(SCAN_FIELDS)
        out.flush()

    def write(self, row: ScanRow) -> None:
        values = dataclasses.astuple(row)
        if self._json:
            self._out.write(("\n" if self._first else ",\n") + json.dumps(dict(zip(SCAN_FIELDS, values, strict=True))))
            self._first = False
        else:
            self._csv.writerow(["" if v is None else v for v in values])
        self._out.flush()

    def close(self) -> None:
        if self._json:
            self._out.write("]\n" if self._first else "\n]\n")
        self._out.flush()


class _Scanner:
    """Classifies one file at a time on worker threads sharing one client."""

    def __init__(self, args: argparse.Namespace, client: DeepfakeClient, folder: Path) -> None:
        self._client = client
        self._folder = folder
        self._heatmaps = _heatmap_writer(args)
        self._explain = args.explain or self._heatmaps is not None
        self._face_crop = args.face_crop
        self._abort = threading.Event()
        self.fatal: DeepfakeError | None = None

    def __call__(self, path: Path) -> ScanRow:
        if self._abort.is_set():  # a fatal error was seen: don't start more calls that would fail the same way
            raise _Aborted
        try:
            result = self._predict(path)
            heatmap = None
            if self._heatmaps is not None and result.heatmap_png:
                relative = path.relative_to(self._folder).with_suffix("")
                heatmap = str(self._heatmaps.write("__".join(relative.parts), result.heatmap_png))
        except _FATAL as exc:
            self.fatal = exc
            self._abort.set()
            raise
        except (DeepfakeError, OSError) as exc:
            return ScanRow(path=str(path), error=_error_text(exc))
        return ScanRow(
            path=str(path), prediction=result.prediction, confidence=round(result.confidence, 4),
            fake_probability=round(result.fake_probability, 6), faces=len(result.faces),
            face_found=result.face_found, request_id=result.request_id, heatmap=heatmap, verdict=result.verdict,
        )

    def _predict(self, path: Path) -> Prediction:
        # The server sheds load with RESOURCE_EXHAUSTED and a retry-after hint: honour it a few times rather
        # than record a perfectly good image as failed. Sleeping here also slows this worker down.
        for attempt in range(_OVERLOAD_RETRIES + 1):
            try:
                return self._client.predict(path, explain=self._explain, is_face_crop=self._face_crop)
            except OverloadedError as exc:
                if attempt == _OVERLOAD_RETRIES or self._abort.is_set():
                    raise
                delay = exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt
                time.sleep(min(delay, _MAX_BACKOFF_S))
        raise AssertionError("unreachable")


class _Aborted(Exception):
    """A worker skipped its file because another one hit a fatal error."""


def _cmd_scan(args: argparse.Namespace, client: DeepfakeClient) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise _UsageError(f"not a folder: {folder}")
    files = find_images(folder, recursive=args.recursive)
    if not files:
        print(f"no .jpg/.jpeg/.png/.webp files in {folder}" + ("" if args.recursive else " (try --recursive)"),
              file=sys.stderr)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        out: IO[str] = sys.stdout
        if args.output:
            try:
                out = stack.enter_context(open(args.output, "w", newline="", encoding="utf-8"))
            except OSError as exc:
                raise _UsageError(f"cannot write --output: {_os_error_text(exc)}") from None
        counts = _scan(_Scanner(args, client, folder), files, _RowWriter(out, args.format), args.concurrency)
    elapsed = time.monotonic() - started
    rate = len(files) / elapsed if elapsed > 0 else 0.0
    print(f"{len(files)} images in {elapsed:.1f} s ({rate:.1f} images/s): {counts[REAL]} Real, "
          f"{counts[DEEPFAKE]} Deepfake, {counts[UNCERTAIN]} Uncertain ({NEEDS_A_LOOK}), {counts['error']} failed"
          + (f"; rows written to {args.output}" if args.output else ""), file=sys.stderr)
    return 1 if counts["error"] else 0


def _scan(scanner: _Scanner, files: list[Path], writer: _RowWriter, concurrency: int) -> Counter[str]:
    """Send the files ``concurrency`` at a time and write their rows; returns counts by verdict and "error"."""
    counts: Counter[str] = Counter()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="deepfake-scan")
    bar = tqdm(total=len(files), unit="img", file=sys.stderr, disable=None, dynamic_ncols=True)
    bar_lock = threading.Lock()

    def tick(_: Future[ScanRow]) -> None:
        with bar_lock:  # callbacks run on the worker threads
            bar.update(1)

    try:
        futures = [pool.submit(scanner, path) for path in files]
        for future in futures:
            future.add_done_callback(tick)
        # Results are consumed in file order, so the output is deterministic while rows still stream out.
        for future in futures:
            try:
                row = future.result()
            except _Aborted:
                break
            writer.write(row)
            counts["error" if row.error is not None else row.verdict or ""] += 1
        if scanner.fatal is not None:
            raise scanner.fatal
    finally:
        # On a fatal error or Ctrl-C: drop the queued files, let the calls in flight end, keep the output valid.
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        writer.close()
    return counts


# ---------------------------------------------------------------------------------------------------- health, info


def _cmd_health(args: argparse.Namespace, client: DeepfakeClient) -> int:
    health: Health = client.health()
    if args.json:
        print(json.dumps({**dataclasses.asdict(health), "is_healthy": health.is_healthy}))
    else:
        print(f"{health.status} | {health.app} {health.version} | model "
              f"{'loaded' if health.model_loaded else 'not loaded'} | {args.server}")
    return 0 if health.is_healthy else 1


def _cmd_model_info(args: argparse.Namespace, client: DeepfakeClient) -> int:
    info: ModelInfo = client.model_info()
    if args.json:
        print(json.dumps(dataclasses.asdict(info)))
        return 0
    rows: list[tuple[str, object]] = [
        ("model", info.model_name), ("architecture", info.architecture), ("init", info.init),
        ("engine", info.engine), ("device", info.device), ("model path", info.model_path),
        ("parameters", f"{info.total_parameters:,} ({info.trainable_parameters:,} trainable)"),
        ("input size", info.input_size), ("labels", ", ".join(info.labels)), ("threshold", info.threshold),
        ("calibration", info.calibration), ("uncertain band", _band_text(info)),
        ("face detector", info.face_detector),
        ("weights sha256", info.weights_sha256), ("service version", info.version),
    ]
    m = info.metrics
    if m is not None:
        rows += [
            ("metrics", f"{m.dataset} ({m.images:,} images)"), ("  ROC AUC", f"{m.auc:.3f}"),
            ("  accuracy", f"{m.accuracy:.3f}"), ("  precision", f"{m.precision:.3f}"),
            ("  recall", f"{m.recall:.3f}"), ("  log loss", f"{m.log_loss:.3f}"),
            ("  calibration error", f"{m.expected_calibration_error:.3f}"),
        ]
    width = max(len(key) for key, _ in rows)
    print("\n".join(f"{key:<{width}}  {value}" for key, value in rows))
    return 0


def _band_text(info: ModelInfo) -> str:
    band = info.uncertain_band
    if band is None or not band.is_banded:
        return "none (every verdict is Real or Deepfake)"
    text = f"[{band.low:.3f}, {band.high:.3f}) is Uncertain ({NEEDS_A_LOOK})"
    if band.target_precision:
        text += f"; target precision {band.target_precision:.0%}"
    if band.fitted_on:
        text += f", fitted on {band.fitted_on}"
    measured = [f"{name} {value:.3f}" for name, value in (("abstention share", band.abstention_share),
                                                         ("Real precision", band.real_precision),
                                                         ("Deepfake precision", band.deepfake_precision)) if value]
    return text + (f"; measured: {', '.join(measured)}" if measured else "")


def _cmd_history(args: argparse.Namespace, client: DeepfakeClient) -> int:
    shown, token = 0, ""
    while shown < args.limit:
        page = client.list_predictions(verdict=args.verdict or "", start_time=args.since, end_time=args.until,
                                       page_size=min(500, args.limit - shown), page_token=token)
        for record in page.predictions:
            if args.json:
                print(json.dumps({**dataclasses.asdict(record), "created_at": record.created_at.isoformat()}))
            else:
                print(f"{record.created_at:%Y-%m-%d %H:%M:%S}  {record.verdict:<9} {record.confidence:5.1f}% "
                      f"{record.prediction:<8}  "
                      f"faces {len(record.faces)}  {record.filename}  ({record.id})")
        shown += len(page.predictions)
        token = page.next_page_token
        if not token:
            break
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace, DeepfakeClient], int]] = {
    "predict": _cmd_predict,
    "history": _cmd_history,
    "scan": _cmd_scan,
    "health": _cmd_health,
    "model-info": _cmd_model_info,
}
