"""Train the seed network (784-70-30-10, sigmoid, L2 0.01, RMSprop) and report test accuracy.

The backend comes from MLP_BACKEND (and MLP_DEVICE), e.g.:

    MLP_BACKEND=tensorflow python examples/train_mnist.py --dataset fashion-mnist --epochs 35
"""

from __future__ import annotations

import argparse

import mlp_core


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (default: mnist)")
    p.add_argument("--epochs", type=int, default=35)
    p.add_argument("--batch-size", type=int, default=500)
    args = p.parse_args()

    ds = mlp_core.load_dataset(args.dataset)  # scaled to [0, 1]
    model = mlp_core.MLP([784, 70, 30, 10], activation="sigmoid", output="sigmoid", loss="cce")
    print(f"{model} on {ds.name} from {ds.source}")
    history = model.fit(ds.x_train, ds.y_train, epochs=args.epochs, batch_size=args.batch_size,
                        optimizer="rmsprop", l2=0.01)
    accuracy = model.score(ds.x_test, ds.y_test)
    print(f"trained in {history.train_time:.2f} s; test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    try:
        main()
    except mlp_core.MLPError as exc:
        raise SystemExit(f"train_mnist: error: {exc}") from None
