"""Train the seed network, the article's Keras model (the ``seed-keras`` preset: 784-70-30-10,
sigmoid, categorical cross-entropy, RMSprop, L2 0.01 on the two hidden kernels only, 35 epochs,
batch 500), and report test accuracy: what ``mlp-core train`` does, from Python.

The settings come from the preset itself (``mlp_core.get_preset``), so this script and the
command train the same model. The backend comes from MLP_BACKEND (and MLP_DEVICE), e.g.:

    MLP_BACKEND=tensorflow python examples/train_mnist.py --dataset fashion-mnist
"""

from __future__ import annotations

import argparse

import mlp_core

PRESET = "seed-keras"


def main() -> None:
    preset = mlp_core.get_preset(PRESET)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist",
                   help="fashion-mnist or mnist (default: fashion-mnist)")
    p.add_argument("--epochs", type=int, help=f"(default: the preset's, {preset.epochs})")
    p.add_argument("--batch-size", type=int,
                   help=f"(default: the preset's, {preset.batch_size})")
    args = p.parse_args()

    ds = mlp_core.load_dataset(args.dataset, scaler=preset.scaler, as_pixels=True)
    model = mlp_core.MLP.from_preset(PRESET, n_inputs=ds.x_train.shape[1],
                                     n_classes=ds.n_classes)
    print(f"{model} on {ds.name} from {ds.source} (preset {PRESET})")
    given = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size))
             if v is not None}
    history = preset.fit(model, ds.x_train, ds.y_train, **given)
    accuracy = model.score(ds.x_test, ds.y_test)
    print(f"trained in {history.train_time:.2f} s; test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    try:
        main()
    except mlp_core.MLPError as exc:
        raise SystemExit(f"train_mnist: error: {exc}") from None
