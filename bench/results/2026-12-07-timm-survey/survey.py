"""One net of each timm module (family) through the exporter, at the net's own input size:
the first two names of the module by a smallness rank (atto, femto, … in that order), the one
with fewer parameters kept, skipped above 30M parameters. Prints what `architecture` says:
exported, or the first step it refuses (forwards are read from the output back).

    python3 survey.py > survey.txt
"""
import collections
import pathlib
import signal
import sys
import warnings

import timm

ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
import export_pytorch as ep  # noqa: E402

SMALL = ["atto", "femto", "pico", "nano", "tiny", "xxs", "xs", "small", "_s", "050", "18",
         "mini", "lite", "b0", "t_", "_t"]


class Timeout(Exception):
    pass


def alarm(*_):
    raise Timeout()


def smallest(names):
    """The net of fewer parameters among the two smallest-sounding `names`."""
    rank = lambda n: next((i for i, k in enumerate(SMALL) if k in n), len(SMALL))  # noqa: E731
    best = None
    for name in sorted(names, key=rank)[:2]:
        try:
            signal.alarm(60)
            model = timm.create_model(name, pretrained=False, num_classes=10).eval()
        except BaseException:
            continue
        finally:
            signal.alarm(0)
        size = sum(p.numel() for p in model.parameters())
        if best is None or size < best[1]:
            best = (name, size, model)
    return best


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGALRM, alarm)
    for module in timm.list_modules():
        best = smallest(timm.list_models(module=module))
        if best is None:
            print(f"{module}: -: could not build", flush=True)
            continue
        name, size, model = best
        shape = tuple((getattr(model, "pretrained_cfg", None) or {}).get("input_size",
                                                                          (3, 224, 224)))
        if size > 30e6:
            print(f"{module}: {name}: skipped ({size / 1e6:.0f}M)", flush=True)
            continue
        try:
            signal.alarm(240)
            ep.architecture(model, shape)
            print(f"{module}: {name} {shape}: exported", flush=True)
        except ep.Unsupported as e:
            print(f"{module}: {name} {shape}: refused: {str(e)[:200]}", flush=True)
        except BaseException as e:
            print(f"{module}: {name} {shape}: ERROR {type(e).__name__}: {str(e)[:200]}",
                  flush=True)
        finally:
            signal.alarm(0)
