"""``torch-native`` and ``torch-native-compiled``: the bench's training as a PyTorch user writes
it. ``nn.Sequential`` of ``nn.Linear`` layers, ``torch.optim`` (RMSprop: its epsilon is added
outside the square root, Keras's and ours inside), ``CrossEntropyLoss`` on the logits (``mse``:
``MSELoss`` on the output activation), the L1/L2 penalties as loss terms, ``loss.backward()``;
``torch.autocast`` (bfloat16) for ``mixed_bfloat16``. Each epoch shuffles with ``randperm`` and
gathers its batches from the dataset's tensor. ``compiled``: the model and the optimizer's step
under ``torch.compile``, as PyTorch's tutorials compile them.
"""

from __future__ import annotations

from time import perf_counter

from ..config import BenchConfig, Cell
from ..impls import ImplSpec
from . import Setup, prepare, result

ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "identity": "Identity",
               "softmax": "Softmax"}


def build(torch, setup: Setup, device):
    """The model (with our initial weights), its optimizer, the loss and the penalty terms."""
    nn, dtype = torch.nn, getattr(torch, setup.dtype)
    layers, linears = [], []
    n_layers = len(setup.sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(setup.sizes[:-1], setup.sizes[1:])):
        linear = nn.Linear(n_in, n_out, dtype=dtype, device=device)
        with torch.no_grad():  # nn.Linear keeps W as (n_out, n_in)
            linear.weight.copy_(torch.from_numpy(setup.initial[2 * i].T.copy()))
            linear.bias.copy_(torch.from_numpy(setup.initial[2 * i + 1]))
        linears.append(linear)
        layers.append(linear)
        last = i == n_layers - 1
        if not (last and setup.loss == "cce"):  # CrossEntropyLoss takes the logits
            layers.append(getattr(nn, ACTIVATIONS[setup.output if last else setup.activation])(
                **({"dim": 1} if last and setup.output == "softmax" else {})))
    model = nn.Sequential(*layers)
    opt = setup.optimizer
    optimizer = {
        "sgd": lambda p: torch.optim.SGD(p, lr=opt.learning_rate),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=opt.learning_rate, alpha=opt.rho,
                                                 eps=opt.epsilon),
        "adam": lambda p: torch.optim.Adam(p, lr=opt.learning_rate,
                                           betas=(opt.beta_1, opt.beta_2), eps=opt.epsilon),
    }[opt.name](model.parameters())
    loss_fn = nn.CrossEntropyLoss() if setup.loss == "cce" else nn.MSELoss()
    penalties = [(lin.weight, l1, l2) for lin, l1, l2 in zip(linears, setup.l1, setup.l2)
                 if l1 or l2]
    return model, optimizer, loss_fn, penalties


def run(impl: ImplSpec, cfg: BenchConfig, cell: Cell, compiled: bool = False) -> dict:
    setup = prepare(impl, cfg, cell)
    torch, device = setup.be.torch, setup.be.torch_device
    torch.manual_seed(setup.seed)
    model, optimizer, loss_fn, penalties = build(torch, setup, device)
    x = torch.from_numpy(setup.x).to(device)
    if setup.loss == "cce":
        y = torch.from_numpy(setup.labels).long().to(device)
    else:
        y = torch.from_numpy(setup.one_hot(setup.labels)).to(device)
    mixed = setup.policy == "mixed_bfloat16"
    forward = torch.compile(model) if compiled else model
    optimizer_step = torch.compile(optimizer.step) if compiled else optimizer.step

    def train_step(xb, yb):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed):
            out = forward(xb)
        loss = loss_fn(out.float() if mixed else out, yb)
        for w, l1, l2 in penalties:
            loss = loss + (l2 * w.square().sum() if l2 else 0) + (l1 * w.abs().sum() if l1 else 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer_step()
        return loss.detach()

    generator = torch.Generator(device=device).manual_seed(setup.seed)
    n, bs = len(x), setup.batch_size

    def epoch() -> tuple[float, float]:
        """One epoch: (seconds of its steps, mean loss)."""
        perm = torch.randperm(n, generator=generator, device=device)
        total = torch.zeros((), device=device)
        setup.be.synchronize()
        t = perf_counter()
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            total += train_step(x[idx], y[idx])
        setup.be.synchronize()
        return perf_counter() - t, float(total) / -(-n // bs)

    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(setup.warmup_epochs):
        epoch()
    if setup.warmup_epochs:  # back to the initial weights and a fresh optimizer state, in place
        with torch.no_grad():
            for k, v in model.state_dict().items():
                v.copy_(fresh[k])
            for state in optimizer.state.values():
                for value in state.values():
                    if isinstance(value, torch.Tensor):
                        value.zero_()
    t0 = perf_counter()
    step_seconds, losses = 0.0, []
    for _ in range(setup.epochs):
        seconds, loss = epoch()
        step_seconds += seconds
        losses.append(loss)
    fit_time = perf_counter() - t0
    with torch.no_grad():
        predicted = model(torch.from_numpy(setup.x_test).to(device)).argmax(1).cpu().numpy()
    return result(setup, fit_time=fit_time, step_seconds=step_seconds, epochs_run=setup.epochs,
                  final_loss=losses[-1], test_accuracy=(predicted == setup.labels_test).mean(),
                  library={"backend": impl.base, "torch_compiled": compiled})
