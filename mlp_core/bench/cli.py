"""``mlp-core bench`` (placeholder until the benchmark lands)."""


def add_bench_parser(sub) -> None:
    pass


def cmd_bench(args) -> int:
    raise NotImplementedError
