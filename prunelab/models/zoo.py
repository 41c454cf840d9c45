"""What every library classifier (torchvision's, timm's) shares: weights loaded into a freshly built
network, a classifier re-initialised when the class counts differ, and a check of the input size.

The network is always built with the run's `num_classes` (the library's own initialisation), then
a state_dict read by `prunelab.loading` is copied in. A file whose classifier has another number
of classes loads everything but the classifier, with a warning; any other difference is refused.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from prunelab.loading import LoadError


class WeightsMismatch(LoadError, RuntimeError):
    """A weights file that holds another network's tensors. A LoadError (one line, exit 2 from the
    command line) and a RuntimeError, as torch's own `load_state_dict` raises."""


def _names(keys: Iterable[str], limit: int = 5) -> str:
    """At most `limit` sorted names, then how many more: one line, however many keys differ."""
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"[{', '.join(keys[:limit])}]{more}"


def unknown_arch(library: str, arch: object, names: Sequence[str], listed: str) -> ValueError:
    """A one-line refusal of an arch name: the closest valid names first, then all of them.

    Args:
        library: "torchvision" or "timm", for the message.
        arch: the refused value.
        names: every valid arch.
        listed: how the message lists the valid names (the full list, or where to find it).
    """
    close = difflib.get_close_matches(str(arch), names, n=3, cutoff=0.6)
    hint = f" (closest: {', '.join(close)})" if close else ""
    if arch is None:
        return ValueError(f"model={library} needs model.arch=NAME; valid choices: {listed}")
    return ValueError(f"unknown {library} arch {arch!r}{hint}; valid choices: {listed}")


def load_backbone(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    num_classes: int,
    source: str,
    fresh: Sequence[str] = (),
) -> None:
    """Copy `state` into `model`; a classifier sized for another class count keeps its fresh init.

    The classifier is recognised by shape: the tensors whose first dimension is `num_classes` in
    the model and another count in the file, all other dimensions equal (a Linear or 1x1 conv
    head's weight and bias). Every other tensor must match by name and shape.

    Args:
        model: the freshly built network, with `num_classes` outputs.
        state: the file's tensors (names as the library's state_dict writes them).
        num_classes: the model's class count.
        source: what the tensors came from (`model.weights=...`), for the messages.
        fresh: name prefixes the file is known to hold no usable values for (they keep their
            fresh init, whatever the file says; e.g. a features-only release's classifier).

    Raises:
        WeightsMismatch: tensors missing from the file, extra in it, or of another shape.
    """
    own = model.state_dict()
    head = {
        name
        for name, tensor in state.items()
        if name in own
        and tensor.ndim >= 1
        and own[name].shape[0] == num_classes != tensor.shape[0]
        and tensor.shape[1:] == own[name].shape[1:]
    }
    if head:
        layers = sorted({name.rsplit(".", 1)[0] for name in head})
        classes = state[next(iter(head))].shape[0]
        warnings.warn(
            f"{source}: classifier `{', '.join(layers)}` has {classes} classes, the model "
            f"{num_classes}; loading everything but the classifier, which keeps its fresh init",
            stacklevel=3,
        )
    kept = head | {name for name in own if name.startswith(tuple(fresh))}
    # BatchNorm counters absent from files saved before torch 0.4.1 (torchvision's early
    # releases): BatchNorm's own loading sets them to 0, as a fresh network has them.
    missing = [
        n
        for n in own
        if n not in state and n not in kept and not n.endswith(".num_batches_tracked")
    ]
    unexpected = [n for n in state if n not in own]
    shapes = [
        f"{n} {tuple(t.shape)} vs {tuple(own[n].shape)}"
        for n, t in state.items()
        if n in own and n not in kept and t.shape != own[n].shape
    ]
    if missing or unexpected or shapes:
        found = [
            f"{what} {_names(keys)}"
            for what, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ] + ([f"shapes (file vs model) {_names(shapes, 3)}"] if shapes else [])
        raise WeightsMismatch(f"{source} holds another network's weights: {'; '.join(found)}")
    model.load_state_dict({n: t for n, t in state.items() if n not in kept}, strict=False)


def check_input_size(model: nn.Module, image_size: int, what: str) -> None:
    """Refuse, in one line, a network that cannot take `image_size` px images.

    One blank image goes through the network in eval mode without gradients (on a `meta` network
    this only propagates shapes). CIFAR's 32 px images are too small for a few ImageNet networks,
    whose stems and pools shrink them to nothing; better refused now than after the run started.

    Raises:
        ValueError: the forward pass fails, with the library's reason.
    """
    param = next(model.parameters())
    image = torch.zeros(1, 3, image_size, image_size, dtype=param.dtype, device=param.device)
    training = model.training
    model.eval()  # batch statistics of BatchNorm stay untouched; dropout is off
    try:
        with torch.no_grad():
            model(image)
    # Layers refuse small inputs with any of these (a pool's RuntimeError, a ViT's assertion).
    except (RuntimeError, ValueError, AssertionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"{what} cannot take {image_size}x{image_size} px images ({reason}); "
            "choose another arch, or larger images (data=imagefolder data.image_size=224)"
        ) from exc
    finally:
        model.train(training)
