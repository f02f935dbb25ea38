"""The bare argon2id verify, with argon2-cffi's defaults (auth's defaults too), timed in a
process of its own pinned like auth: `python -m bench.argon --runs N` prints JSON."""

import argparse
import json
import statistics
import time

import argon2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    hasher = argon2.PasswordHasher()
    password = "bench password 1"  # noqa: S105 (a throwaway password for timing)
    hashed = hasher.hash(password)
    hasher.verify(hashed, password)  # warm-up
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        hasher.verify(hashed, password)
        times.append((time.perf_counter() - started) * 1000)
    parameters = {
        "time_cost": hasher.time_cost,
        "memory_cost": hasher.memory_cost,
        "parallelism": hasher.parallelism,
    }
    print(json.dumps({"median_ms": statistics.median(times), "runs_ms": times, **parameters}))


if __name__ == "__main__":
    main()
